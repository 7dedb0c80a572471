"""Benchmark raw MuJoCo physics and gymnasium v5 env.step throughput.

Usage: python bench.py [--json OUT.json] [--repeats 5] [--seconds 1.0] [--warmup 0.3]

For each env:
  (a) raw: mujoco.mj_step(model, data) called frame_skip times in a Python loop
      per "env step", on env.unwrapped.model/data, writing a pre-generated
      random action into data.ctrl each env step; the state is put back to the
      (deterministic) post-reset state when the env would end the episode:
      after max_episode_steps env steps, or when env.unwrapped.is_healthy is
      False for envs that terminate when unhealthy (a cheap z-range/finite check,
      the same one env.step does), so raw and env loops visit similar states.
      Reported as env-steps/s of pure physics.
  (b) env: env.step(action) with the same pre-generated actions, env.reset()
      on terminated/truncated (reset time is included in the rate).
Each measurement: a warm-up, then `repeats` timed repeats of ~`seconds` s each
(time.perf_counter); the best repeat is reported.
"""

import argparse
import json
import platform
import sys
import time
import warnings

# Python-level filter for the settotalmass deprecation message only (in case it
# is ever raised as a Python warning).
warnings.filterwarnings("ignore", message=r".*settotalmass.*")

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

# MuJoCo 4.0 prints the half_cheetah.xml `settotalmass` deprecation from C via
# mju_warning (stderr), which warnings.filterwarnings cannot see. Install a user
# warning callback that drops that one message and forwards everything else as
# a Python warning (so other MuJoCo warnings stay visible).
SUPPRESSED = []


def _mj_warning(msg):
    if "settotalmass" in msg:
        SUPPRESSED.append(msg)
        return
    warnings.warn("MuJoCo warning: " + msg.strip(), RuntimeWarning, stacklevel=1)


mujoco.set_mju_user_warning(_mj_warning)

ENVS = ["HalfCheetah-v5", "Ant-v5", "Humanoid-v5", "Hopper-v5", "Walker2d-v5"]
N_ACTIONS = 16384
CHUNK = 100  # env steps between clock reads


def timed(fn, seconds):
    """Run fn(CHUNK) repeatedly for >= seconds; return env steps/s."""
    n = 0
    t0 = time.perf_counter()
    while True:
        fn(CHUNK)
        n += CHUNK
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def measure(fn, repeats, seconds, warmup):
    timed(fn, warmup)
    rates = [timed(fn, seconds) for _ in range(repeats)]
    return max(rates), rates


def bench_env(name, seed, repeats, seconds, warmup):
    env = gym.make(name)
    uw = env.unwrapped
    m, d = uw.model, uw.data
    fs = int(uw.frame_skip)
    ep_len = env.spec.max_episode_steps or 1000
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, size=(N_ACTIONS,) + low.shape).astype(env.action_space.dtype)

    # ---- (a) raw physics ----
    env.reset(seed=seed)
    qpos0, qvel0, act0 = d.qpos.copy(), d.qvel.copy(), d.act.copy()
    time0 = d.time
    st = {"i": 0, "ep": 0, "resets": 0}
    mj_step = mujoco.mj_step
    check_health = bool(getattr(uw, "_terminate_when_unhealthy", False)) and hasattr(type(uw), "is_healthy")

    def raw(n):
        i, ep, r = st["i"], st["ep"], st["resets"]
        for _ in range(n):
            d.ctrl[:] = actions[i]
            i = (i + 1) % N_ACTIONS
            for _ in range(fs):
                mj_step(m, d)
            ep += 1
            if ep >= ep_len or (check_health and not uw.is_healthy):
                ep = 0
                r += 1
                d.qpos[:] = qpos0
                d.qvel[:] = qvel0
                d.act[:] = act0
                d.time = time0
                mujoco.mj_forward(m, d)
        st["i"], st["ep"], st["resets"] = i, ep, r

    raw_best, raw_all = measure(raw, repeats, seconds, warmup)

    # ---- (b) gymnasium env.step ----
    env.reset(seed=seed)
    es = {"i": 0, "resets": 0}
    step = env.step
    reset = env.reset

    def envstep(n):
        i, r = es["i"], es["resets"]
        for _ in range(n):
            _, _, term, trunc, _ = step(actions[i])
            i = (i + 1) % N_ACTIONS
            if term or trunc:
                reset()
                r += 1
        es["i"], es["resets"] = i, r

    env_best, env_all = measure(envstep, repeats, seconds, warmup)
    env.close()
    return {
        "env": name,
        "frame_skip": fs,
        "timestep": float(m.opt.timestep),
        "raw_best": raw_best,
        "raw_all": raw_all,
        "env_best": env_best,
        "env_all": env_all,
        "env_resets": es["resets"],
        "raw_resets": st["resets"],
        "raw_health_check": check_health,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--envs", nargs="*", default=ENVS)
    a = ap.parse_args()

    meta = {
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "executable": sys.executable,
    }
    print(
        f"python {meta['python']}  mujoco {meta['mujoco']}  numpy {meta['numpy']}  "
        f"gymnasium {meta['gymnasium']}"
    )
    hdr = f"{'env':<16}{'fs':>3}{'raw env-steps/s':>17}{'env.step/s':>13}{'overhead':>10}{'raw rst':>9}{'env rst':>9}"
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for name in a.envs:
        r = bench_env(name, a.seed, a.repeats, a.seconds, a.warmup)
        rows.append(r)
        ovh = r["raw_best"] / r["env_best"]
        print(
            f"{name:<16}{r['frame_skip']:>3}{r['raw_best']:>17.0f}{r['env_best']:>13.0f}"
            f"{ovh:>9.2f}x{r['raw_resets']:>9}{r['env_resets']:>9}",
            flush=True,
        )
    print(f"suppressed settotalmass warnings: {len(SUPPRESSED)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "rows": rows, "suppressed": len(SUPPRESSED)}, f, indent=1)


if __name__ == "__main__":
    main()

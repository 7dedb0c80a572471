#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the main job, end to end, in demo-output/:
#  1. meta-train the RL² baseline (`ci` config, about half a minute) on MetaBandit-v0 (RL²'s
#     bandits: 5 arms, n = 10 pulls);
#  2. score it with the harness on the family's 100 held-out tasks × 5 seeds under the default
#     protocol, next to the reference agents (random, Thompson sampling and the exact
#     Bayes-optimal agent, the true ceiling);
#  3. print the tables with 95% confidence intervals, write the adaptation curves as PNG, and
#     the probability that the trained RL² agent beats Thompson sampling.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
out=demo-output
mkdir -p "$out"
metabench=.venv/bin/metabench

rm -rf "$out/rl2-bandit"  # a rerun trains afresh (same seed, same agent)
"$metabench" train rl2 --env MetaBandit-v0 --config ci --out "$out/rl2-bandit"
"$metabench" evaluate "$out/rl2-bandit" --out "$out/bandit-rl2.json" --overwrite --no-summary
for agent in random thompson bayes-optimal; do
    "$metabench" evaluate "$agent" --env MetaBandit-v0 --out "$out/bandit-$agent.json" --no-summary
done
"$metabench" report "$out/bandit-rl2.json" --png "$out/bandit-rl2.png"
for agent in random thompson bayes-optimal; do
    "$metabench" compare "$out/bandit-rl2.json" "$out/bandit-$agent.json" --png "$out/bandit-rl2-vs-$agent.png"
done

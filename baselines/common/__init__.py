"""Plumbing the baselines share: math utilities, policies, the linear baseline, sampling,
checkpoints, logging and configs. Each algorithm's own math stays in its own file."""

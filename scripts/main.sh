#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the main job: a real evaluation end to end. Reference
# agents on the held-out tasks of MetaBandit-v0 (RL²'s n = 10 pulls, 5 arms) and
# MetaNavigation2D-v0 (MAML's 20 + 20 episodes), 5 seeds each, under each family's default
# protocol; tables of scores with 95% confidence intervals, adaptation curves as PNG, and the
# probability that the Bayes-optimal agent beats Thompson sampling. Output in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
out=demo-output
mkdir -p "$out"
metabench=.venv/bin/metabench

for agent in random thompson greedy bayes-optimal oracle; do
    "$metabench" evaluate "$agent" --env MetaBandit-v0 --out "$out/bandit-$agent.json" --no-summary
done
"$metabench" report "$out/bandit-bayes-optimal.json" --png "$out/bandit-bayes-optimal.png"
"$metabench" compare "$out/bandit-bayes-optimal.json" "$out/bandit-thompson.json" --png "$out/bandit-bayes-optimal-vs-thompson.png"

for agent in random straight-to-goal; do
    "$metabench" evaluate "$agent" --env MetaNavigation2D-v0 --out "$out/navigation-$agent.json" --no-summary
done
"$metabench" report "$out/navigation-straight-to-goal.json" --png "$out/navigation-straight-to-goal.png"
"$metabench" compare "$out/navigation-straight-to-goal.json" "$out/navigation-random.json"

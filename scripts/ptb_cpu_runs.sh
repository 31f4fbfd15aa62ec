#!/usr/bin/env bash
# Every committed CPU run of the PTB chapter (book/results/ptb/), in the order they were made.
# Each command skips a complete run and resumes an unfinished one, so the script can be
# re-run after an interruption.  Needs PTB_DIR (or the cache); about 110 min on 2 cores.
#   bash scripts/ptb_cpu_runs.sh [RESULTS_DIR]      (default: book/results/ptb)
set -euo pipefail
out=${1:-book/results/ptb}
# exit status 3 is a diverged run: a result like any other (its files end at the last finite step)
ptb() { python -m implicit_bias.ptb "$@" --no-progress || [ $? -eq 3 ]; }
run_once() {  # run_once FOLDER ARGS...: a run, unless FOLDER already holds it complete or diverged
    local folder=$1; shift
    if grep -qs '"status": "diverged"' "$out/$folder/run.json"; then return 0; fi
    ptb run --resume --out "$out/$folder" "$@"
}

# Figures 4-6 (AdamW) and Figure 3's baselines at every beta, both seeds
ptb sweep --config cpu --out "$out/cpu"

# Figure 2: a random half of the chunks each step, every AdamW beta, both lambdas
for betas in "0.99 0.99" "0.999 0.999" "0.9 0.95" "0.9 0.999"; do
    set -- $betas
    for wd in 1 2; do
        run_once "cpu-half/adamw_b$1-$2_wd${wd}_frac0.5_s0" --config cpu --optimizer adamw \
            --beta1 "$1" --beta2 "$2" --weight-decay "$wd" --batch-fraction 0.5
    done
done

# the paper's protocol: PyTorch's bias-corrected AdamW (eps = 0, as in every other run) at every
# beta x lambda, both seeds (the default betas at seed 0 came first: is their excess over 1/lambda
# the uncorrected early kick or Lemma 4.3's slow second moment?)
for seed in 0 1; do
    for betas in "0.9 0.999" "0.99 0.99" "0.999 0.999" "0.9 0.95"; do
        set -- $betas
        for wd in 1 2; do
            run_once "cpu-bias-correction/adamw_b$1-$2_wd${wd}_s$seed" --config cpu \
                --optimizer adamw --beta1 "$1" --beta2 "$2" --weight-decay "$wd" \
                --seed "$seed" --bias-correction
        done
    done
done

# the paper's footnote 2 (the learning rate was tuned), at cpu scale: eta around the cpu
# configuration's 1e-2 (which cpu/ holds), betas (0.99, 0.99), both lambdas, seed 0
for lr in 0.001 0.003 0.03 0.1; do
    for wd in 1 2; do
        run_once "cpu-lr/adamw_b0.99-0.99_wd${wd}_lr${lr}_s0" --config cpu --optimizer adamw \
            --beta1 0.99 --beta2 0.99 --weight-decay "$wd" --lr "$lr"
    done
done

# beyond the paper (chapter ch-many-optimizers)
run_once cpu-beyond/lion_b0.9-0.99_wd1_s0 --config cpu --optimizer lion --beta1 0.9 \
    --beta2 0.99 --weight-decay 1
run_once cpu-beyond/muon_b0.95-0.95_wd1_s0 --config cpu --optimizer muon --beta1 0.95 \
    --beta2 0.95 --weight-decay 1

# the paper's model (width 200, the 10,000-word vocabulary) on the cpu data: AdamW only
ptb sweep --config cpu-wide --out "$out/cpu-wide"

# chapter ch-rotation: the cpu configuration without decay, trained in the network's own basis and
# in a fixed Haar-random basis per weight matrix (--rotation-seed = the seed), by GD (torch SGD,
# no momentum), Adam (betas 0.99, 0.99, as in cpu/) and sign descent (Lion with betas 0, 0).
# Seed 0: a three-point learning-rate grid per optimizer and basis; seed 1: the grid's best
# learning rate (lowest final training loss) of each, as found at seed 0 (the chapter checks it).
rotation_run() {  # rotation_run OPTIMIZER BETA LR SEED ROTATED(0/1)
    local opt=$1 beta=$2 lr=$3 seed=$4 rotated=$5 rot="" args=()
    if [ "$rotated" = 1 ]; then rot="_rot$seed"; args=(--rotation-seed "$seed"); fi
    run_once "cpu-rotation/${opt}_b$beta-${beta}_wd0${rot}_lr${lr}_s$seed" --config cpu \
        --optimizer "$opt" --beta1 "$beta" --beta2 "$beta" --weight-decay 0 --lr "$lr" \
        --seed "$seed" "${args[@]}"
}
for rotated in 0 1; do
    for lr in 0.1 0.3 0.6; do rotation_run sgd 0 "$lr" 0 "$rotated"; done
    for lr in 0.003 0.01 0.03; do rotation_run adam 0.99 "$lr" 0 "$rotated"; done
    for lr in 0.001 0.003 0.01; do rotation_run lion 0 "$lr" 0 "$rotated"; done
done
# seed 1 at the seed-0 choice of smoothness.best_learning_rates (lowest final loss; a rate that
# diverged in either basis is dropped: GD at 0.6 diverged in the network's own basis)
for rotated in 0 1; do
    rotation_run sgd 0 0.3 1 "$rotated"
    rotation_run adam 0.99 0.003 1 "$rotated"
    rotation_run lion 0 0.003 1 "$rotated"
done

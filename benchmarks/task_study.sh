#!/usr/bin/env bash
# The study behind the defaults of repeat copy, priority sort and dynamic N-grams
# (docs/training.md, "The paper's other three tasks"): every cell is one joblib sweep followed
# by `python -m ntm.report` on its directory.
#
#   JOBS=1 bash benchmarks/task_study.sh rc_b16      # the cell rc_b16 alone (an exact name)
#   JOBS=1 bash benchmarks/task_study.sh 'rc_*'      # every cell whose name starts with rc_ (so
#                                                    #   does a name that is no cell's)
#
# Cells name every setting they vary. A cell added before a change of a default it does not name
# starts with the variable of its era (below), which sets that default back to the value the
# cell ran with; a setting the cell names itself comes later and wins (the last value does).
# Each run stops at its wall budget (minutes of one torch thread, two runs side by side on the
# 2-core machine) or once solved.
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-}"
out=runs/study
common="hydra/launcher=joblib hydra.launcher.n_jobs=${JOBS:-2} train.threads=1 train.pictures=false
        train.progress=false optim=adam optim.eps=1e-4 train.clip_grad_norm=1.0
        train.max_sequences=2000000
        train.compile=false train.compile_steps=1"
# (Every cell ran the eager step unless it names train.compile=true: train.compile=auto was eager
# until it began to compile on the CPU; the compiled cells ran one time step per graph, before
# train.compile_steps.)
# The eras (git log -p conf/): what the cells added before a change of the defaults ran with.
# Before repeat copy's recipe (91856cf): no curriculum, evaluations every 50 steps, no rollback.
rc_before_recipe="train.curriculum=null train.curriculum_bit_errors=1 train.eval_every=50
                  train.rollback_factor=null train.rollback_min_bit_errors=1
                  train.rollback_lr_factor=1"
# Before priority sort and N-grams compiled by default (652f052): the eager step.
eager="train.compile=false"
# Before the N-grams recipe (0f0f556): a constant memory, no rollback, and the eager step.
ng_before_recipe="memory.init=constant train.rollback_factor=null $eager"

# Before priority sort's rate cut at 340,000 sequences became its default: a constant rate.
ps_before_cut="train.lr_cooldown_start=null"
# Before priority sort evaluated every 3,200 sequences (ps_default_eval3200): every 800.
ps_before_eval3200="train.eval_every=50"

source benchmarks/study_cell.sh

# Repeat copy with copy's recipe: LSTM 100, one head pair, batch 16, Adam 4e-3.
cell rc_b16 task=repeat_copy 'seed=0' $rc_before_recipe controller=lstm train.batch_size=16 \
    optim.lr=4e-3 train.solved_bit_errors=0.1 train.max_minutes=25
# Priority sort as the paper's LSTM NTM (5 head pairs, 2 x 100 controller) with a learned
# memory start, so that a key can name a location (a constant memory has no content to match).
cell ps_b16_h5 task=priority_sort $ps_before_eval3200 $ps_before_cut 'seed=0' $eager controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.solved_bit_errors=null train.max_minutes=25
# Dynamic N-grams: the targets are random, so a larger batch averages more of their noise per
# step at nearly the same cost per step; the rate halves on a plateau of the held-out cost.
cell ng_b32 task=dynamic_ngrams 'seed=0' $ng_before_recipe controller=lstm train.batch_size=32 \
    optim.lr=2e-3 train.lr_decay_patience=5 train.min_lr=1e-4 train.max_minutes=25
# ... and with a learned memory start: with a constant memory every location looks alike, so
# no key can name the location of a context's counts.
cell ng_b32_learned task=dynamic_ngrams 'seed=0' $ng_before_recipe controller=lstm \
    train.batch_size=32 optim.lr=2e-3 train.lr_decay_patience=5 train.min_lr=1e-4 \
    memory.init=learned train.max_minutes=35
# Repeat copy: two more seeds of the first cell.
cell rc_b16_more task=repeat_copy 'seed=1,2' $rc_before_recipe controller=lstm \
    train.batch_size=16 optim.lr=4e-3 train.solved_bit_errors=0.1 train.max_minutes=25
# ... at half the rate, with the rollback guard: at 2e-3 the run above reached 160 bits at
# 38,400 sequences and then jumped to 206 (bit errors 58 -> 91).
cell ng_b32_lr1e-3 task=dynamic_ngrams 'seed=0' $ng_before_recipe controller=lstm \
    train.batch_size=32 optim.lr=1e-3 train.lr_decay_patience=5 train.min_lr=1e-4 \
    memory.init=learned train.rollback_factor=1.3 train.max_minutes=50
# A second seed of the cell above (the task's defaults), half an hour.
cell ng_b32_lr1e-3_seed1 task=dynamic_ngrams 'seed=1' $eager controller=lstm \
    train.batch_size=32 optim.lr=1e-3 train.lr_decay_patience=5 train.min_lr=1e-4 \
    memory.init=learned train.rollback_factor=1.3 train.max_minutes=30
# Priority sort: seeds 1 and 2 of the task's defaults (the cell ps_b16_h5), 60 minutes each,
# with the compiled step (about 1.3x the sequences per second of the eager step here).
cell ps_b16_h5_more task=priority_sort $ps_before_eval3200 $ps_before_cut 'seed=1,2' $eager controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.solved_bit_errors=null train.compile=true train.max_minutes=60
# Dynamic N-grams: seeds 1 and 2 of the task's defaults (the cell ng_b32_lr1e-3), compiled, 35
# minutes each (at about 2.2x the sequences per second of the eager step, more sequences than
# the eager seed 0 in its 50 minutes).
cell ng_b32_lr1e-3_more task=dynamic_ngrams 'seed=1,2' $eager controller=lstm \
    train.batch_size=32 optim.lr=1e-3 train.lr_decay_patience=5 train.min_lr=1e-4 \
    memory.init=learned train.rollback_factor=1.3 train.compile=true train.max_minutes=35
# Repeat copy with a curriculum, on the two seeds that did not solve without one (rc_b16_more):
# lengths up to 2 and one repeat first, each bound one higher whenever the training batches
# since the last evaluation had at most one wrong bit per sequence.
cell rc_b16_curriculum task=repeat_copy 'seed=1,2' $rc_before_recipe controller=lstm \
    train.batch_size=16 optim.lr=4e-3 train.solved_bit_errors=0.1 \
    'train.curriculum={max_length:2,max_repeats:1}' train.curriculum_bit_errors=1 \
    train.max_minutes=25
# Priority sort with a 4x lower rate once the held-out bit errors reach 10 per sequence: seeds 0
# and 1 each lost 4-5 bits of held-out cost within a few thousand sequences when their rate
# was cut from 4e-3 to 1e-3 by hand (at 411,200 and 329,072 sequences).
cell ps_b16_h5_drop task=priority_sort $ps_before_eval3200 $ps_before_cut 'seed=2' $eager controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_drop_bit_errors=10 train.lr_drop_factor=0.25 \
    train.solved_bit_errors=null train.compile=true train.max_minutes=60
# Priority sort with the 4x rate cut earlier, once the held-out bit errors reach 15 per sequence
# (a cost of about 45): every cut measured so far took 3-5 bits off at once, and the lower
# rate went on falling at least as fast as 4e-3 had.
cell ps_b16_h5_drop15 task=priority_sort $ps_before_eval3200 $ps_before_cut 'seed=0' $eager controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_drop_bit_errors=15 train.lr_drop_factor=0.25 \
    train.solved_bit_errors=null train.compile=true train.max_minutes=60
# Repeat copy with copy's current recipe (batch 8, evaluated every 800 sequences, rollback past
# 10 x the best and 10 bit errors at half the rate): at batch 8 copy solved more seeds than at
# 16. Seeds 1 and 2 (the two that sat near 72 wrong bits at batch 16) first, then seed 0.
cell rc_b8_rollback_lr task=repeat_copy 'seed=1,2,0' $rc_before_recipe controller=lstm \
    train.batch_size=8 train.eval_every=100 optim.lr=4e-3 train.rollback_factor=10 \
    train.rollback_min_bit_errors=10 train.rollback_lr_factor=0.5 train.solved_bit_errors=0.1 \
    train.max_minutes=30
# rc_b8_rollback_lr's seed 1 sat at 76 wrong bits after 13 minutes (37,600 sequences), the
# plateau of batch 16 (stopped there). Repeat copy with one repeat is copy of lengths 1..10,
# which copy's recipe learns in a few thousand sequences; the plateau is a read head that never
# learned to move, since moving pays for the first repeat only. So a curriculum over the
# repeats alone: n = 1 first, one more whenever the training batches since the last
# evaluation had at most 2 wrong bits per sequence; the lengths are the full 1..10 throughout.
cell rc_b8_curriculum_repeats task=repeat_copy 'seed=1,2,0' $rc_before_recipe controller=lstm \
    train.batch_size=8 train.eval_every=100 optim.lr=4e-3 train.rollback_factor=10 \
    train.rollback_min_bit_errors=10 train.rollback_lr_factor=0.5 train.solved_bit_errors=0.1 \
    'train.curriculum={max_repeats:1}' train.curriculum_bit_errors=2 train.max_minutes=30
# Priority sort with one 4x cut of the rate on a plateau of the held-out cost (10 evaluations,
# 8,000 sequences, without a better one; min_lr 1e-3, so 4e-3 -> 1e-3 once): the hand cuts
# paid where the cost at 4e-3 had flattened (about 24-26), and the cut at a fixed level (15 bit
# errors) came too early. Seed 1: 25.7 after 60 minutes at the constant rate.
cell ps_b16_h5_plateau task=priority_sort $ps_before_eval3200 $ps_before_cut 'seed=1' controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_decay_patience=10 train.lr_decay_factor=0.25 train.min_lr=1e-3 \
    train.solved_bit_errors=null train.compile=true train.max_minutes=60
# Dynamic N-grams to the 3-hour bound: seed 1 of the task's defaults (138.5 after 35 minutes,
# the rate halved to 2.5e-4 by then), 165 minutes; and the same seed with a patience of 10
# evaluations, so that the rate is not halved on the early plateau near 175 bits.
cell ng_b32_long task=dynamic_ngrams 'seed=1' controller=lstm train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=5 train.min_lr=1e-4 memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.max_minutes=165
cell ng_b32_patience10_long task=dynamic_ngrams 'seed=1' controller=lstm train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=10 train.min_lr=1e-4 memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.max_minutes=165
# The paper's other N-grams controller (its NTM-feedforward reached about 134 bits): the same
# seed and settings with the feedforward controller of 100, 60 minutes.
cell ng_b32_ff_patience10 task=dynamic_ngrams 'seed=1' controller=feedforward train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=10 train.min_lr=1e-4 memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.max_minutes=60
# Priority sort with a cool-down at the end of the hour: the rate held at 4e-3 while it still
# finds structure (the cuts at 15 bit errors and on a plateau came too early), then falling
# linearly to a tenth over the 60,000 sequences from 260,000 (seeds 1 and 2 reached about
# 330,000 sequences in 60 minutes at the constant rate, 25.7 and 25.6 bits; each hand cut of
# 4x took 3-5 bits off at once). Seeds 1 and 2, 60 minutes each, side by side. The span is in
# sequences, so the result does not depend on the machine's speed; on a machine slower than
# about 90 sequences per second a run, the hour ends before the cool-down does.
cell ps_b16_h5_cooldown task=priority_sort $ps_before_eval3200 'seed=1,2' controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_cooldown_start=260000 train.lr_cooldown_sequences=60000 \
    train.lr_cooldown_factor=0.1 train.solved_bit_errors=null train.compile=true \
    train.max_minutes=60
# Priority sort alone on the machine (both threads, JOBS=1), seed 1, with the rate cut 4x over
# 10,000 sequences from 340,000: the hand cut of seed 1 at 329,072 (60 minutes at one thread
# beside another run) reached 20 bits at 360,800; with the machine to itself a run makes more
# sequences per hour, so the cut and what follows it may fit inside the hour.
cell ps_b16_h5_alone_cut task=priority_sort $ps_before_eval3200 'seed=1' controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_cooldown_start=340000 train.lr_cooldown_sequences=10000 \
    train.lr_cooldown_factor=0.25 train.solved_bit_errors=null train.compile=true \
    train.threads=2 train.max_minutes=60
# The same on seeds 0 and 2, one after the other (JOBS=1), each alone on the machine.
cell ps_b16_h5_alone_cut_s02 task=priority_sort $ps_before_eval3200 'seed=0,2' controller=lstm controller.layers=2 \
    model.read_heads=5 model.write_heads=5 memory.init=learned train.batch_size=16 \
    optim.lr=4e-3 train.lr_cooldown_start=340000 train.lr_cooldown_sequences=10000 \
    train.lr_cooldown_factor=0.25 train.solved_bit_errors=null train.compile=true \
    train.threads=2 train.max_minutes=60
# The feedforward controller with the rate held at 1e-3 (no plateau halvings): in the cell
# above the halvings had brought its rate to the floor of 1e-4 by 20 minutes, still on the
# early plateau near 174 bits. Seed 1, 60 minutes.
cell ng_b32_ff_constant task=dynamic_ngrams 'seed=1' controller=feedforward train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.max_minutes=60
# The patience-10 LSTM (ng_b32_patience10_long: 135.2 bits at 60 minutes, 134.2 at 165) judged
# by the average of its weights over about the last 1,000 steps (train.ema_decay=0.999): the
# noise of the random targets in the weights is what a low rate removes slowly. Seed 1.
cell ng_b32_p10_ema task=dynamic_ngrams 'seed=1' controller=lstm train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=10 train.min_lr=1e-4 memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.ema_decay=0.999 train.max_minutes=60
# The feedforward controller at the constant rate of 1e-3 (ng_b32_ff_constant: 136.4 bits after
# 60 minutes, still falling), judged by the average of its weights: the constant rate keeps
# learning, the average removes its noise. Seed 1, 60 minutes.
cell ng_b32_ff_constant_ema task=dynamic_ngrams 'seed=1' controller=feedforward \
    train.batch_size=32 optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.ema_decay=0.999 train.max_minutes=60
# Priority sort's default with four steps per graph and an evaluation every 3,200 sequences
# instead of 800 (the eager held-out evaluation had taken about a quarter of the hour): seeds
# 0-2, one thread each: seeds 0 and 1 side by side, then seed 2 (beside the test suite).
cell ps_default_eval3200 task=priority_sort 'seed=0,1,2' train.compile=true \
    train.compile_steps=4 train.eval_every=200 train.max_minutes=60
# Dynamic N-grams in one command: the feedforward controller at a constant 1e-3, four steps per
# graph, an evaluation every 3,200 sequences, the average of the weights from 350,000 sequences
# and the rate cut to 3e-4 at 700,000 (the path that reached 134.0001 by hand in 150 minutes,
# ng_b32_ff_constant_then_ema). Seed 1, 150 minutes, one thread (stopped by hand after 108:
# 141.6 bits at 60 minutes, 137.8 at 108; docs/training.md).
cell ng_ff_one_command task=dynamic_ngrams 'seed=1' controller=feedforward train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned train.rollback_factor=1.3 \
    train.compile=true train.compile_steps=4 train.eval_every=100 train.ema_decay=0.999 \
    train.ema_start=350000 train.lr_cooldown_start=700000 train.lr_cooldown_factor=0.3 \
    train.max_minutes=150
# The one-command feedforward path on a seed not run before: one step per graph (the path of
# ng_b32_ff_constant, which left the early plateau at 25 minutes), an evaluation every 1,600
# sequences, the average of the weights from 400,000 sequences and the rate cut to 3e-4 at
# 700,000. Seed 0, one thread beside other work, 150 minutes.
cell ng_ff_one_command_s0 task=dynamic_ngrams 'seed=0' controller=feedforward train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned train.rollback_factor=1.3 \
    train.compile=true train.compile_steps=1 train.ema_decay=0.999 \
    train.ema_start=400000 train.lr_cooldown_start=700000 train.lr_cooldown_factor=0.3 \
    train.max_minutes=150
# (ng_ff_one_command_s0 was stopped by hand after 29 minutes, paused for 9 of them, for
# machine time: 172.5 bits at 99,200 sequences, still on the early plateau.)
# The same on seed 2, started 16 minutes later beside it; 135 minutes, so that both end inside
# one working session.
cell ng_ff_one_command_s2 task=dynamic_ngrams 'seed=2' controller=feedforward train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned train.rollback_factor=1.3 \
    train.compile=true train.compile_steps=1 train.ema_decay=0.999 \
    train.ema_start=400000 train.lr_cooldown_start=700000 train.lr_cooldown_factor=0.3 \
    train.max_minutes=135
# (ng_ff_one_command_s2 was stopped after 6 minutes for the cell below.)
# The LSTM at a constant 1e-3 judged by the average of its weights from 200,000 sequences (past
# the sharp fall of the cost, about 30 minutes): ng_b32_patience10_long took the same path until
# its first halving near 35 minutes (135.2 bits at 60); here the rate stays, and the average
# removes its noise. The guard watches the trained weights. Seed 1, 90 minutes, one thread.
cell ng_lstm_constant_ema200k task=dynamic_ngrams 'seed=1' controller=lstm train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=null memory.init=learned train.rollback_factor=1.3 \
    train.compile=true train.compile_steps=1 train.ema_decay=0.999 train.ema_start=200000 \
    train.max_minutes=90
# The feedforward controller at a constant 2e-3 (ng_b32_ff_constant at 1e-3 left the early
# plateau near 175 bits only after 25 minutes), judged by the average of its weights from
# 300,000 sequences; seed 1, 60 minutes, one thread beside another run.
cell ng_ff_2e-3_ema300k task=dynamic_ngrams 'seed=1' controller=feedforward train.batch_size=32 \
    optim.lr=2e-3 train.lr_decay_patience=null memory.init=learned train.rollback_factor=1.3 \
    train.compile=true train.compile_steps=1 train.ema_decay=0.999 train.ema_start=300000 \
    train.max_minutes=60
# (ng_ff_2e-3_ema300k was stopped by hand at 43 minutes: 159.6 bits, 36 rollbacks.)
# The dot score (model.similarity=dot) in place of cosine: on recall's one-pair feedforward NTM it
# solved 8 of 10 seeds, in 17,000-51,000 sequences where it solved (cosine 7 of 10). N-grams
# keys a context's counts by content, so the same patience-10 LSTM (ng_b32_patience10_long:
# 141.7 bits at 30 minutes, 135.2 at 60) with the dot score; seed 1, 60 minutes, one thread.
cell ng_b32_p10_dot task=dynamic_ngrams 'seed=1' controller=lstm train.batch_size=32 \
    optim.lr=1e-3 train.lr_decay_patience=10 train.min_lr=1e-4 memory.init=learned \
    train.rollback_factor=1.3 train.compile=true train.compile_steps=1 model.similarity=dot \
    train.max_minutes=60
# (ng_b32_p10_dot was stopped after 18 minutes: still on the early plateau, 178.1 bits at
# 118,400 sequences, its rate already halved to the floor of 1e-4 there; the cosine run left the
# plateau from about 56,000 sequences.)
# Leaving the early plateau sooner: the patience-10 LSTM (ng_b32_patience10_long: 179.6 bits at
# 10 minutes, 141.7 at 30, 135.2 at 60 on seed 1, the plateau near 175 left from about 56,000
# sequences) at Adam 2e-3, which left it at 38,400 sequences in ng_b32_learned and then jumped
# back (206 bits) with no guard; here the guard puts the best state back and halves the rate at
# each rollback. Seeds 1 and 2, side by side, one thread each, 60 minutes.
ng_p10="task=dynamic_ngrams controller=lstm train.batch_size=32 train.lr_decay_patience=10
        train.min_lr=1e-4 memory.init=learned train.rollback_factor=1.3 train.compile=true
        train.compile_steps=1 train.max_minutes=60"
cell ng_b32_p10_lr2e-3 $ng_p10 'seed=1,2' optim.lr=2e-3 train.rollback_lr_factor=0.5
# (ng_b32_p10_lr2e-3, best held-out cost at 10 / 20 / 30 / 45 / 60 minutes: seed 1 164.1 / 139.3
# / 139.3 / 139.3 / 139.3, its two rollbacks halving the rate on top of the plateau halvings, to
# 2.5e-5 by 30 minutes, below the plateau floor of 1e-4; seed 2 169.9 / 139.3 / 137.5 / 136.6 /
# 136.1, no rollback. In sequences no faster than 1e-3 past 100,000: seed 1 139.5 / 139.3 at
# 91,200 / 150,400 sequences against 145.5 / 136.6 at 1e-3, ng_lstm_constant_ema200k.)
# The plateau patience of 10 at the task's 1e-3 (ng_b32_patience10_long: 135.2 bits at 60
# minutes on seed 1, against 136.1 with the then default patience of 5) on seeds 0 and 2, whose
# default runs (ng_b32_lr1e-3, ng_b32_lr1e-3_more) halved the rate on the early plateau (seed 2
# at the floor of 1e-4 there, 147.9 bits after 181,440 sequences): side by side, one thread
# each, 60 minutes.
cell ng_b32_p10_seeds02 $ng_p10 'seed=0,2' optim.lr=1e-3
# Batch 64, never measured on this task before: compiled, one thread each side by side, 1.4x the
# sequences per minute of batch 32 (32,000 against 22,400 sequences in the first 162 s, compile
# and evaluations included: half as many evaluations per sequence, and a step that costs less
# per sequence), at the same number of steps per evaluation and the same patience in
# evaluations. Seeds 1 (the slow one: 135.2 bits at 60 minutes in ng_b32_patience10_long) and
# 2, 60 minutes.
ng_b64="$ng_p10 optim.lr=1e-3 train.batch_size=64"
cell ng_b64_p10 $ng_b64 'seed=1,2'
# Batch 64 on seed 0, and on seed 1 with a plateau patience of 20 evaluations (64,000
# sequences): in ng_b64_p10 seed 1 halved its rate on the early plateau at 8 minutes (102,400
# sequences) and then took 20 minutes to fall from 170 to 140 bits; seed 1 at batch 32 was
# not halved before about 35 minutes. Side by side, one thread each, 60 minutes.
cell ng_b64_p10_seed0 $ng_b64 'seed=0'
ng_b64_p20="$ng_b64 train.lr_decay_patience=20"
cell ng_b64_p20_seed1 $ng_b64_p20 'seed=1'
# (Best held-out cost at 60 minutes: ng_b64_p10 seed 1 135.9, seed 2 133.75; ng_b64_p10_seed0
# 136.2, nine rollbacks at 7-14 minutes and its rate at the floor by 27; ng_b64_p20_seed1 134.8, its
# rate still 5e-4 and falling. Batch 64 was not kept: docs/training.md.)
# Batch 64 at a plateau patience of 20 on seeds 0 and 2, to set beside seed 1's 134.8 bits
# (ng_b64_p20_seed1). Side by side, one thread each, 60 minutes.
cell ng_b64_p20_seeds02 $ng_b64_p20 'seed=0,2'
# (ng_b64_p20_seeds02 at 60 minutes: seed 0 135.5, eleven rollbacks at 9-24 minutes and its rate
# halved four times from 27 minutes on; seed 2 133.75, below 134 from 38 minutes on.)
# Batch 64, patience 20, and the rate cut linearly to a quarter of itself from 480,000 to
# 800,000 sequences (about 40 to 60 minutes), for seed 1, whose rate was still 5e-4 and its
# cost still falling at 60 minutes in ng_b64_p20_seed1. One thread, 60 minutes, beside that run
# resumed to 150 minutes (docs/training.md).
cell ng_b64_p20_cool $ng_b64_p20 'seed=1' train.lr_cooldown_start=480000 train.lr_cooldown_sequences=320000 train.lr_cooldown_factor=0.25
# (ng_b64_p20_cool: 135.59 at 60 minutes, 690,752 sequences, against 135.28 for the uncut run at
# the same sequences: not kept. The uncut run resumed reached 133.995 at 122 minutes.)
# Batch 64, patience 20 on a seed no choice looked at (3), to the 3-hour bound: seeds 2 and 1
# reached 134 bits at 38 and 122 minutes (ng_b64_p20_seeds02, ng_b64_p20_seed1). One thread,
# beside seed 0 of ng_b64_p20_seeds02 resumed to 180 minutes (docs/training.md).
cell ng_b64_p20_seed3 $ng_b64_p20 'seed=3' train.max_minutes=180 train.max_sequences=3000000
# (ng_b64_p20_seed3: 134.062 at 60 minutes, 133.987 at 69.4 minutes, 928,000 sequences; one
# rollback, at 14 minutes, the rate still 1e-3; stopped there by hand.)
# The default (batch 32, patience 10) on the same unseen seed 3, 60 minutes, one thread, beside
# seed 0 of ng_b64_p20_seeds02 resumed, then beside the test suite and CI.
cell ng_b32_p10_seed3 $ng_p10 'seed=3' optim.lr=1e-3
# (ng_b32_p10_seed3: 135.14 at 60 minutes, 536,000 sequences, against 134.06 at batch 64 on the
# same seed. Seed 0 of ng_b64_p20_seeds02 resumed to 180 minutes: best 134.59 at 129 minutes.
# Batch 64 with a patience of 20 became the task's default: conf/task/dynamic_ngrams.yaml.)
# Seed 0 is the one seed of four that the batch-64 default does not bring to 134 bits within 3
# hours (ng_b64_p20_seeds02 resumed: 135.5 at 60 minutes, its rate halved four times to the
# floor of 1e-4 by 53 minutes, best 134.59 at 129 minutes, then drifting up at the floor). Two
# ways to keep its rate higher for longer, each on seed 0 alone: a floor of 2.5e-4, and a
# plateau patience of 40 evaluations (128,000 sequences). Side by side, one thread each, 120
# minutes.
cell ng_b64_p20_floor2.5e-4_s0 $ng_b64_p20 'seed=0' train.min_lr=2.5e-4 train.max_minutes=120
cell ng_b64_p40_s0 $ng_b64 'seed=0' train.lr_decay_patience=40 train.max_minutes=120
# (ng_b64_p20_floor2.5e-4_s0: the default's path to 460,800 sequences, best 135.79 at 505,600,
# then drifting up at 2.5e-4, 142.5 at 889,600; stopped at 77 minutes. ng_b64_p40_s0: first
# halving at 480,000 sequences instead of 339,200, 134.40 at 120 minutes (1,479,616 sequences)
# against the default's 134.74 at the same sequences; resumed to 150 minutes as
# ng_b64_p40_s0_long, docs/training.md. The default was unchanged then.)
# (ng_b64_p40_s0_long, resumed to 150 minutes: best 134.23 at 142 minutes, 1,769,600 sequences,
# then up again at the floor rate; 134.61 at 150.)
# Patience 40 on seed 1, to see whether it costs the seed that the default brings to 134 bits
# late (ng_b64_p20_seed1 resumed: 133.995 at 122 minutes, 1,536,000 sequences; its first
# halving at 43 minutes). Seeds 2 and 3 halve no rate before their first <= 134, so patience
# 40 leaves their paths as they are. One thread, 120 minutes, beside ng_b64_p40_s0 resumed
# at 120 minutes with the average of its weights (docs/training.md).
cell ng_b64_p40_s1 $ng_b64 'seed=1' train.lr_decay_patience=40 train.max_minutes=120
# (ng_b64_p40_s0 at 120 minutes, resumed with the average of its weights as
# ng_b64_p40_s0_ema120: cp -r runs/study/ng_b64_p40_s0 runs/study/ng_b64_p40_s0_ema120, then
# python -m ntm.train hydra.run.dir=runs/study/ng_b64_p40_s0_ema120/0 <the cell's settings>
# train.max_minutes=180 train.max_sequences=3000000 train.ema_decay=0.999
# train.ema_start=1479616: best 134.04 at 179 minutes, 2,131,200 sequences, still falling;
# docs/training.md.)
# (ng_b64_p40_s1: 133.98 at 84.5 minutes, 1,059,200 sequences, the first at or below 134;
# best 133.69 at 115 minutes; its rate never halved. Patience 40 became the default:
# conf/task/dynamic_ngrams.yaml. ng_b64_p40_s0_ema120 resumed to 200 minutes as
# ng_b64_p40_s0_ema120_long: 133.989 at 186 minutes, 2,201,600 sequences.)
# The default with the average of its weights from 256,000 sequences (about 21-25 minutes, while
# the rate is still 1e-3 and the held-out cost still swings): does the average bring seed 3 to
# 134 bits within 60 minutes (134.06 at 60 without it) and seed 0 within 3 hours in one command
# (the average from 120 minutes reached it at 186)? One thread each, side by side.
ng_ema="$ng_b64 train.lr_decay_patience=40 train.ema_decay=0.999 train.ema_start=256000"
cell ng_b64_p40_ema256k_s3 $ng_ema 'seed=3' train.max_minutes=60
cell ng_b64_p40_ema256k_s0 $ng_ema 'seed=0' train.max_minutes=140 train.max_sequences=3000000
# (ng_b64_p40_ema256k_s3: 134.060 at 60 minutes, 755,392 sequences: the average's cost at equal
# sequences no lower than the trained weights' (134.70 against 134.59 at 500,000), the second
# evaluation a cost in sequences; without it 134.062 at 60 minutes.)
# Batch 128 at the same rate, seed 3: twice the sequences a step, for how much more time a step
# on one thread? One thread, 60 minutes, beside ng_b64_p40_ema256k_s0.
cell ng_b128_p40_s3 $ng_b64 train.lr_decay_patience=40 train.batch_size=128 'seed=3' train.max_minutes=60
# (ng_b128_p40_s3: 134.34 at 60 minutes, 959,872 sequences, against 134.06 for batch 64: 1.10x
# the sequences a second, slower per sequence. ng_b64_p40_ema256k_s0: 134.38 at 140 minutes
# against 134.29 without the average; docs/training.md.)
# The default alone on the machine with both threads (JOBS=1, one run at a time): the estimate
# from three minutes of throughput (1.35x the sequences a second of one thread beside another
# run, the same path) put seed 3's first <= 134 at about 51 minutes and seed 1's at about 63;
# measured here, seed 3 for 60 minutes, then seed 1 for 65.
cell ng_b64_p40_alone_s3 $ng_b64 train.lr_decay_patience=40 'seed=3' train.threads=2 train.max_minutes=60
cell ng_b64_p40_alone_s1 $ng_b64 train.lr_decay_patience=40 'seed=1' train.threads=2 train.max_minutes=65
# (ng_b64_p40_alone_s3: the 60-minute run's path evaluation for evaluation (the same held-out
# cost at all 290 evaluations to 928,000 sequences), at 1.38x its pace: first at or below 134
# at 50.2 minutes (928,000 sequences, 133.987, as at 69.4 minutes there), 133.92 at 60
# minutes (1,105,792 sequences); docs/training.md.)
# (ng_b64_p40_alone_s1: the 120-minute run's path (the same held-out cost at all 364
# evaluations), at 1.43x its pace: first at or below 134 at 59.1 minutes (1,059,200 sequences,
# 133.981, as at 84.5 minutes there), 133.96 at 65 minutes. With seed 2 (38 minutes at one
# thread), three seeds of four at 134 within the hour alone; docs/training.md.)

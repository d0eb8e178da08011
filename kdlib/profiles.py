"""The profiles and the CIFAR training recipes, as plain data.

A profile gives every default of a run:

- smoke: seconds, for the tests (tiny data, tiny models, a few dozen steps);
- cpu:   the embedded default, MNIST-1D 4,000 / 1,000 / 1,000, minutes on two cores;
- gpu:   CIFAR-10 by default, with a recipe; MNIST-1D and digits there get the cpu setting trained longer.

`data` holds each dataset's loader keywords; `lr_grid` the student learning rates tried on validation data;
`sizes` the model ladder of C5's scale sweep; `vit` the ViT student of C6; `lm` the defaults of the language-model
runs of C6 (`kdlib.config.LMConfig`; their `lr_grid` is chosen on validation perplexity). On CIFAR-10/100 a recipe (`recipes`) replaces the models, the training, the
learning-rate grid, the ladder and the ViT (`kdlib.config.profile_defaults`).
"""
from __future__ import annotations

from .train import TrainConfig

FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# seeds come in looks (kdlib.claims): a row is judged at 4 seeds, and only where it is open at 8, then 16 (every row of
# kdlib 0.10 stops at 8: kdlib.claims.CAP)
LOOKS = (4, 8, 16)
# the evaluation seeds of the confirmatory series (kdlib 0.10, issue 33): 2000 onwards, never used by an earlier series
# of this project (those evaluated on 0–15, chose on 1000–1005); each seed has its own teacher and data subset
FIRST_SEED = 2000
SEEDS = tuple(range(FIRST_SEED, FIRST_SEED + LOOKS[-1]))
# hyperparameters (learning rates, τ, ε, C4's pair) are chosen on the mean validation metric over these seeds, each
# with its own teacher; they never evaluate (kdlib.notebook). Two, not one: see benchmarks/BENCHMARKS.md (issue 32)
SELECTION_SEEDS = (1000, 1001)

# ---- CIFAR-10/100 recipes
# the authors' CIFAR-100 setup (CLAIMS.md): ResNet-18 -> ResNet-18, 200 epochs, SGD 0.1, wd 1e-4, 5 warm-up epochs
# then cosine, batch 128, crop and flip (not their 15° rotation); the lower precision is ours, for speed ("auto": bf16
# autocast where the GPU has it, fp16 with a gradient scaler on a T4, fp32 on a CPU; kdlib.devices). The 2,000-step
# floor only matters below ~1.3k images (fewer than 10 steps per epoch).
PAPER_TRAIN = TrainConfig(epochs=200, min_steps=2000, batch_size=128, lr=0.1, weight_decay=1e-4, warmup=0.025,
                          optimizer="sgd", precision="auto", augment=True)
# in the spirit of airbench: a small ConvNet, batch 512, 10 epochs (teacher 20), bf16 (auto), no label smoothing
FAST_TRAIN = TrainConfig(epochs=10, min_steps=300, batch_size=512, lr=0.4, weight_decay=5e-4, warmup=0.15,
                         optimizer="sgd", precision="auto", augment=True)
FAST_TEACHER_TRAIN = TrainConfig(epochs=20, min_steps=300, batch_size=512, lr=0.4, weight_decay=5e-4, warmup=0.15,
                                 optimizer="sgd", precision="auto", augment=True)
RECIPES = {
    "paper": dict(student="resnet18", teacher="resnet18", train=PAPER_TRAIN, teacher_train=PAPER_TRAIN, tau=4.0,
                  lr_grid=(0.1,), sizes=("resnet20", "resnet56", "resnet18"), vit="vit-cifar"),
    # the learning rate is chosen on validation data from two values (not tuned beyond that)
    "fast": dict(student="convnet-s", teacher="convnet-s", train=FAST_TRAIN, teacher_train=FAST_TEACHER_TRAIN,
                 tau=4.0, lr_grid=(0.2, 0.4), sizes=("convnet-s", "convnet-l"), vit="vit-cifar"),
}
DEFAULT_RECIPE = "fast"

# smoke: the same recipes on a budget of a few steps (the tests make their own small images)
SMOKE_IMAGE_TRAIN = TrainConfig(epochs=1, min_steps=12, batch_size=32, lr=0.05, weight_decay=5e-4, warmup=0.1,
                                optimizer="sgd", precision="fp32", augment=True)
SMOKE_IMAGE_TEACHER_TRAIN = TrainConfig(epochs=1, min_steps=24, batch_size=32, lr=0.05, weight_decay=5e-4,
                                        warmup=0.1, optimizer="sgd", precision="fp32", augment=True)
SMOKE_RECIPES = {
    "paper": dict(student="resnet20", teacher="resnet20", train=SMOKE_IMAGE_TRAIN,
                  teacher_train=SMOKE_IMAGE_TEACHER_TRAIN, tau=4.0, lr_grid=(0.1,), sizes=("resnet20", "resnet56"),
                  vit="vit-cifar"),
    "fast": dict(student="convnet-s", teacher="convnet-s", train=SMOKE_IMAGE_TRAIN,
                 teacher_train=SMOKE_IMAGE_TEACHER_TRAIN, tau=4.0, lr_grid=(0.05, 0.1),
                 sizes=("convnet-s", "convnet-l"), vit="vit-cifar"),
}

# ---- the profiles
# language models (C6): character GPTs on Shakespeare. Every α gets at least min_steps updates; the teacher, on all
# of the training text, trains longer than any student. train_chars / eval_chars cut the text for the CPU budget.
PROFILES = {
    "smoke": dict(
        dataset="mnist1d",
        data={"mnist1d": dict(n_train=400, n_val=200, n_test=200), "digits": dict(n_val=300, n_test=300),
              "cifar10": dict(n_val=50), "cifar100": dict(n_val=50)},
        student="cnn-tiny", teacher="cnn-tiny", tau=4.0,
        train=TrainConfig(epochs=2, min_steps=100, batch_size=64, lr=1e-2),
        teacher_train=TrainConfig(epochs=10, min_steps=300, batch_size=64, lr=1e-2),
        # two looks, so the tests run the path that adds seeds: one seed (never decides), then two where a row is open
        fractions=(0.1, 0.3, 1.0), seeds=(0, 1), looks=(1, 2), selection_seeds=SELECTION_SEEDS, lr_grid=(3e-3, 1e-2),
        sizes=("cnn-tiny", "cnn-small", "cnn-base"), vit="vit-small", recipes=SMOKE_RECIPES,
        lm=dict(data=dict(train_chars=60_000, eval_chars=6_000), block_size=32, student="gpt-tiny",
                teacher="gpt-tiny", tau=1.0, train=TrainConfig(epochs=1, min_steps=40, batch_size=32, lr=3e-3),
                teacher_train=TrainConfig(epochs=1, min_steps=80, batch_size=32, lr=3e-3),
                fractions=(0.1, 1.0), seeds=(0, 1), looks=(1, 2), selection_seeds=SELECTION_SEEDS,
                lr_grid=(1e-3, 3e-3)),
    ),
    "cpu": dict(
        dataset="mnist1d",
        data={"mnist1d": dict(n_train=4000, n_val=1000, n_test=1000), "digits": dict(n_val=300, n_test=300),
              "cifar10": dict(n_val=5000), "cifar100": dict(n_val=5000)},
        student="cnn-base", teacher="cnn-base", tau=4.0,
        # the student's budget: 60 epochs, at least 400 steps. Rule (kdlib 0.6, for the 25-minute series): the
        # smallest floor in {250, 400, 1000} whose validation accuracy stays within 1 point of 1000's for labels and KD
        # at α = 0.02 and 0.1 (seeds 0, 1, lr 3e-3): 400 (labels 0.230 / 0.445 vs 0.234 / 0.443, KD 0.290 / 0.474
        # vs 0.298 / 0.484; 250 loses 2.1 points for KD at α = 0.1). The 60 epochs stay: 30 cost 3 (labels) and 7 (KD)
        # points of validation accuracy at α = 1. benchmarks/BENCHMARKS.md has the table.
        train=TrainConfig(epochs=60, min_steps=400, batch_size=128, lr=3e-3),
        # teacher lr: 1e-2 over 3e-3 on validation accuracy (0.925 vs 0.876, cnn-base, seed 0)
        teacher_train=TrainConfig(epochs=100, min_steps=1500, batch_size=128, lr=1e-2),
        fractions=FRACTIONS, seeds=SEEDS, looks=LOOKS, selection_seeds=SELECTION_SEEDS, lr_grid=(3e-3, 1e-2),
        sizes=("cnn-tiny", "cnn-small", "cnn-base"), vit="vit-small", recipes=RECIPES,
        lm=dict(data=dict(train_chars=1_000_000, eval_chars=100_000), block_size=64, student="gpt-tiny",
                teacher="gpt-tiny", tau=1.0, train=TrainConfig(epochs=1, min_steps=600, batch_size=32, lr=3e-3),
                teacher_train=TrainConfig(epochs=4, min_steps=3000, batch_size=32, lr=3e-3),
                # the seeds of kdlib.claims' schedule (this row stops at 8). The 600-step floor stays: 300 steps cost 7% (labels)
                # and 8% (KD) of validation perplexity at α = 1 (seed 0, lr 3e-3)
                fractions=(0.02, 0.1, 1.0), seeds=SEEDS, looks=LOOKS, selection_seeds=SELECTION_SEEDS,
                lr_grid=(1e-3, 3e-3)),
    ),
    "gpu": dict(
        dataset="cifar10",
        data={"mnist1d": dict(n_train=4000, n_val=1000, n_test=1000), "digits": dict(n_val=300, n_test=300),
              "cifar10": dict(n_val=5000), "cifar100": dict(n_val=5000)},
        student="cnn-base", teacher="cnn-base", tau=4.0,
        train=TrainConfig(epochs=200, min_steps=5000, batch_size=128, lr=3e-3),
        teacher_train=TrainConfig(epochs=300, min_steps=5000, batch_size=128, lr=1e-2),
        fractions=FRACTIONS, seeds=SEEDS, looks=LOOKS, selection_seeds=SELECTION_SEEDS, lr_grid=(3e-3, 1e-2),
        sizes=("cnn-tiny", "cnn-small", "cnn-base"), vit="vit-small", recipes=RECIPES,
        lm=dict(data=dict(train_chars=None, eval_chars=None), block_size=128, student="gpt-small",
                teacher="gpt-base", tau=1.0,  # tf32: TensorFloat-32 matmuls on a GPU (fp32 elsewhere)
                train=TrainConfig(epochs=2, min_steps=3000, batch_size=64, lr=1e-3, precision="tf32"),
                teacher_train=TrainConfig(epochs=10, min_steps=5000, batch_size=64, lr=1e-3, precision="tf32"),
                fractions=FRACTIONS, seeds=SEEDS, looks=LOOKS, selection_seeds=SELECTION_SEEDS,
                lr_grid=(1e-3, 3e-3)),
    ),
}

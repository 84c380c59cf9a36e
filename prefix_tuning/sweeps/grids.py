"""Each artifact's grid of runs per profile: the paper's grid, and how the cpu and smoke profiles scale it.

A run is a name (its folder, from the overrides that tell it apart) and the Hydra overrides that make it,
on top of `configs/train.yaml`. The paper grids use the per-cell experiment configs (Table 6, Table 8);
`DEVIATIONS` lists, per profile and artifact, every way a profile departs from the paper's setup (the
report prints them in its caption).
"""

import itertools
from dataclasses import dataclass

from prefix_tuning.errors import UserError
from prefix_tuning.sweeps.profiles import PROFILES

ARTIFACTS = ("table2", "table3", "table4", "table5", "fig3", "fig4", "fig5")
TABLE2_METHODS = ("prefix", "finetune", "ft_top2", "adapter_3", "adapter_0.1")
TABLE2_TASKS = ("e2e", "webnlg", "dart")
LOWDATA_SIZES = (50, 100, 200, 500)  # appendix A.2
LOWDATA_SUBSETS = (0, 1, 2, 3, 4)  # 5 sampled subsets ...
LOWDATA_SEEDS = (200, 9)  # ... x 2 seeds (original code)
FIG4_LENGTHS = {"dart": (1, 5, 10, 20, 40), "xsum": (1, 10, 20, 50, 80, 100, 200, 300)}  # paper 5.3's search ranges
FIG5_INITS = ("random", "active", "elephant", "summarize", "table-to-text", "banana", "beautiful", "divide", "keep")

# cpu profile: learning rates for ~100 CPU steps (the paper's Table 6 values are for ~5 epochs of full data)
CPU_LR = {"prefix": 5e-4, "infix": 5e-4, "embedding_only": 5e-4, "adapter_3": 1e-3, "adapter_0.1": 1e-3,
          "ft_top2": 1e-4, "finetune": 5e-5}  # fmt: skip
CPU_TABLE2 = [
    "train.max_steps=80",
    "train.batch_size=8",
    "train.eval_every=40",
    "task.dev_size=40",
    "task.train_size=2000",
    "train.checkpoint_every=20",  # a killed or paused run loses at most 20 steps (the cells' 1000 is past 80)
]
CPU_EVAL = {"e2e": ["eval.max_items=60"], "webnlg": ["task.eval_stride=19"], "dart": ["task.eval_stride=85"]}
CPU_XSUM = [
    "task=xsum_offline50",
    "train.max_steps=30",
    "train.batch_size=4",
    "train.eval_every=15",
    "task.decoding.batch_size=5",
    "train.checkpoint_every=10",
]
SMOLLM2_PERCENT_L = {"xsum_prefix_2": 233, "xsum_prefix_0.1": 12}  # SmolLM2 stores 11,520 values per L: 2.00% / 0.103%
SMOKE = ["train.max_steps=2", "train.batch_size=4", "train.eval_every=1", "task.dev_size=4", "eval.max_items=3",
         "task.max_source_tokens=64", "task.max_target_tokens=32", "eval.java_metrics=false",
         "task.decoding.num_beams=1", "task.decoding.min_new_tokens=1", "task.decoding.max_new_tokens=6",
         "logger=none"]  # fmt: skip

DEVIATIONS = {
    "cpu": {
        "all": [
            "model: SmolLM2-135M-Instruct (the embedded model) instead of GPT-2 medium/large or BART-large",
            "the large-model rows are not run (no larger model is available offline)",
        ],
        "table2": [
            "80 steps of batch 8 on a 2,000-pair training subset instead of Table 6's epochs and batches",
            "learning rates for 80 steps: prefix 5e-4, adapters 1e-3, FT-top2 1e-4, FT-full 5e-5",
            "dev loss on 40 dev pairs every 40 steps",
            "DART trains on 2,500 dev triple sets (its train split is not available offline)",
            "test: the first 60 E2E MRs; every 19th WebNLG entry (98: 52 seen, 46 unseen); every 85th DART entry (60)",
        ],
        "table3": [
            "a pipeline check, not a claim test: the 50 XSUM articles available offline (train 35, dev 5, test 10)",
            "SmolLM2 (causal, article <eos> summary) instead of BART-large: the 2% and 0.1% rows use L=233 "
            "and L=12 (2.00% and 0.103% of SmolLM2)",
            "30 steps of batch 4",
            "lr: prefix 5e-4, FT-full 5e-5",
        ],
        "table4": [
            "a pipeline check, not a claim test: the 50 offline XSUM articles have no URLs, so no "
            "news/sports split can be formed; every cell trains and tests on the same 35/10 articles",
            "SmolLM2 (causal) instead of BART-large; Table 6's L (80, 40) kept",
            "30 steps of batch 4",
            "lr: prefix 5e-4, FT-full 5e-5",
        ],
        "table5": [
            "80 steps of batch 8 on a 2,000-pair training subset, lr 5e-4 for every row (paper: 8e-5)",
            "dev loss on 40 dev pairs every 40 steps",
            "test: the first 60 E2E MRs",
        ],
        "fig3": [
            "E2E panels only: the XSUM panels need the XSUM articles (not available offline)",
            "1 subset x 1 seed (200) per size instead of 5 x 2 (no error bars)",
            "test: the first 60 E2E MRs",
        ],
        "fig4": [
            "DART trains on 2,500 dev triple sets; 80 steps of batch 8, lr 5e-4; test: every 85th entry (60)",
            "XSUM panel: a pipeline check on the 50 offline articles (train 35, test 10), 30 steps of batch 4",
        ],
        "fig5": [
            "1 subset x 1 seed (200) instead of 5 x 2 (no error bars)",
            "test: the first 60 E2E MRs",
            "random init with L=6 (the low-data L)",
        ],
    },
    "smoke": {
        "all": [
            "smoke: tiny random models, 2 steps, 3 test items, no Java metrics (METEOR; E2E's ROUGE-L, "
            "CIDEr): a pipeline test, no numbers to read"
        ]
    },
    "paper": {"all": [], "fig5": ["random init with L=6 (the low-data L; the paper does not say)"]},
}


@dataclass(frozen=True)
class Run:
    name: str  # the run's folder inside the sweep directory
    overrides: tuple[str, ...]


def _run(*overrides: str, name_from: int | None = None) -> Run:
    """A run named from its first `name_from` overrides (all, by default): what tells it apart in its grid."""
    shown = overrides if name_from is None else overrides[:name_from]
    return Run(",".join(shown), tuple(overrides))


def _table2(profile: str) -> list[Run]:
    runs = []
    for task, method in itertools.product(TABLE2_TASKS, TABLE2_METHODS):
        cell = f"experiment=table2/{task}_{method}"
        if profile == "paper":
            runs.append(_run(cell))
            if method in ("prefix", "finetune"):
                runs.append(_run(cell, "model=gpt2-large"))
        elif profile == "cpu":
            data = ["task=dart_offline_dev"] if task == "dart" else []
            runs.append(_run(cell, "model=smollm2-135m", *data, f"train.lr={CPU_LR[method]}", *CPU_TABLE2,
                             *CPU_EVAL[task], name_from=1))  # fmt: skip
        else:
            data = ["task=dart_offline_dev"] if task == "dart" else []
            runs.append(_run(cell, "model=tiny-gpt2", *data, "task.train_size=16", *SMOKE, name_from=1))
    return runs


def _xsum_tables(profile: str, cells: list[str], table: str) -> list[Run]:
    runs = []
    for cell in cells:
        name = f"experiment={table}/{cell}"
        method = "finetune" if cell.endswith("finetune") else "prefix"
        if profile == "paper":
            runs.append(_run(name))
            continue
        # offline: the 50 articles have no URLs, so table4's cells keep their split only as a label
        split = (
            [f"+reproduce.column={cell.rsplit('_', 1)[0]}", "~task.loader_args.extrapolation"]
            if table == "table4"
            else []
        )
        if profile == "cpu":
            length = [f"method.prefix_length={SMOLLM2_PERCENT_L[cell]}"] if cell in SMOLLM2_PERCENT_L else []
            scale = [f"train.lr={CPU_LR[method]}", *CPU_XSUM]
            runs.append(_run(name, "model=smollm2-135m", *length, *split, *scale, name_from=1))
        else:
            runs.append(_run(name, "model=tiny-bart", "task=xsum_offline50", *split, *SMOKE, name_from=1))
    return runs


def _table5(profile: str) -> list[Run]:
    cells = ["table2/e2e_prefix"] + [
        f"table5/e2e_{kind}_{length}" for kind in ("emb", "infix") for length in (1, 10, 20)
    ]
    if profile == "paper":
        return [_run(f"experiment={cell}") for cell in cells]
    if profile == "cpu":
        scale = [*CPU_TABLE2, *CPU_EVAL["e2e"], "train.lr=5e-4"]
        return [_run(f"experiment={cell}", "model=smollm2-135m", *scale, name_from=1) for cell in cells]
    return [_run(f"experiment={cell}", "model=tiny-gpt2", "task.train_size=16", *SMOKE, name_from=1) for cell in cells]


def _fig3(profile: str) -> list[Run]:
    runs = []
    panels = [("lowdata", "prefix"), ("lowdata", "finetune")]
    if profile == "paper":
        panels += [("lowdata_xsum", "prefix_xsum"), ("lowdata_xsum", "finetune_xsum")]
    subsets, seeds = (LOWDATA_SUBSETS, LOWDATA_SEEDS) if profile == "paper" else ((0,), (200,))
    for (experiment, method), size, subset, seed in itertools.product(panels, LOWDATA_SIZES, subsets, seeds):
        grid = (
            f"experiment={experiment}",
            f"lowdata={method}",
            f"task.train_size={size}",
            f"task.subset_seed={subset}",
            f"seed={seed}",
        )
        if profile == "paper":
            runs.append(_run(*grid))
        elif profile == "cpu":
            runs.append(_run(*grid, "model=smollm2-135m", *CPU_EVAL["e2e"], name_from=len(grid)))
        else:
            runs.append(_run(*grid, "model=tiny-gpt2", *SMOKE, name_from=len(grid)))
    return runs


def _fig4(profile: str) -> list[Run]:
    runs = []
    for task, lengths in FIG4_LENGTHS.items():
        cell = "experiment=table2/dart_prefix" if task == "dart" else "experiment=table3/xsum_prefix_2"
        for length in lengths:
            grid = (cell, f"method.prefix_length={length}")
            if profile == "paper":
                runs.append(_run(*grid))
            elif profile == "cpu" and task == "dart":
                scale = ["task=dart_offline_dev", "train.lr=5e-4", *CPU_TABLE2, *CPU_EVAL["dart"]]
                runs.append(_run(*grid, "model=smollm2-135m", *scale, name_from=2))
            elif profile == "cpu":
                runs.append(_run(*grid, "model=smollm2-135m", "train.lr=5e-4", *CPU_XSUM, name_from=2))
            else:
                model = (
                    ["model=tiny-gpt2", "task=dart_offline_dev"]
                    if task == "dart"
                    else ["model=tiny-bart", "task=xsum_offline50"]
                )
                runs.append(_run(*grid, *model, *SMOKE, name_from=2))
    return runs


def _fig5(profile: str) -> list[Run]:
    runs = []
    subsets, seeds = (LOWDATA_SUBSETS, LOWDATA_SEEDS) if profile == "paper" else ((0,), (200,))
    for init, subset, seed in itertools.product(FIG5_INITS, subsets, seeds):
        length = ["method.prefix_length=6"] if init == "random" else []
        grid = (
            "experiment=lowdata",
            f"init={init}",
            "task.train_size=100",
            f"task.subset_seed={subset}",
            f"seed={seed}",
        )
        if profile == "paper":
            runs.append(_run(*grid, *length, name_from=len(grid)))
        elif profile == "cpu":
            runs.append(_run(*grid, *length, "model=smollm2-135m", *CPU_EVAL["e2e"], name_from=len(grid)))
        else:
            runs.append(_run(*grid, *length, "model=tiny-gpt2", *SMOKE, name_from=len(grid)))
    return runs


GRIDS = {
    "table2": _table2,
    "table3": lambda profile: _xsum_tables(profile, ["xsum_prefix_2", "xsum_prefix_0.1", "xsum_finetune"], "table3"),
    "table4": lambda profile: _xsum_tables(
        profile,
        [f"{split}_{method}" for split in ("within_news", "news_to_sports") for method in ("prefix", "finetune")],
        "table4",
    ),
    "table5": _table5,
    "fig3": _fig3,
    "fig4": _fig4,
    "fig5": _fig5,
}


def check_artifact(artifact: str) -> str:
    if artifact not in ARTIFACTS:
        raise UserError(f"unknown artifact {artifact!r}; choose one of {', '.join(ARTIFACTS)}")
    return artifact


def grid(artifact: str, profile: str) -> list[Run]:
    """The runs of an artifact under a profile, each tagged with the artifact and profile (W&B group, report)."""
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    tags = (f"+reproduce.artifact={artifact}", f"+reproduce.profile={profile}")
    return [Run(run.name, (*run.overrides, *tags)) for run in GRIDS[check_artifact(artifact)](profile)]


def deviations(artifact: str, profile: str) -> list[str]:
    table = DEVIATIONS.get(profile, {})
    return [*table.get("all", []), *table.get(artifact, [])]

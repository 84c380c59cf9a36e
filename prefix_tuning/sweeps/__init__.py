"""The reproduction sweeps: each paper table or figure ("artifact") as a grid of runs per profile
(`grids.py`), the profiles themselves (`profiles.py`), the sweeper that launches a grid as one Hydra
multirun (hydra_plugins/prefix_tuning_sweeper), and reading a finished sweep back (`sweep_runs.py`)."""

"""`sky.yaml`: the plan's training run as a SkyPilot task, for plans that rent cloud GPUs.

`sky launch sky.yaml` (or `sky jobs launch sky.yaml`, managed spot with automatic recovery) gets the plan's
GPU type and count on whichever cloud the user has enabled, installs the repository, and runs `make train`.
Checkpoints go to a bucket mounted at /checkpoints, which `outputs/<slug>` (configs/train.yaml's output_dir)
links to, so a preempted spot run restarts and scripts/train.py resumes from the last checkpoint.
"""

from __future__ import annotations

from typing import Any

from generator.render.filters import comment, yaml_value

# The launcher config of each sharding strategy (configs/accelerate/).
ACCELERATE_CONFIGS = {"single_gpu": "single_gpu.yaml", "ddp": "multi_gpu.yaml", "fsdp": "fsdp.yaml",
                      "zero3": "deepspeed_zero3.yaml"}

# The plan's GPU ids (configs/catalog/gpus.yaml) as SkyPilot's accelerator names (`sky show-gpus`).
SKY_ACCELERATORS = {
    "T4": "T4", "L4": "L4", "A10G": "A10G", "RTX-3090": "RTX3090", "RTX-4090": "RTX4090", "L40S": "L40S",
    "A100-40GB": "A100", "A100-80GB": "A100-80GB", "H100-PCIe": "H100", "H100-SXM": "H100", "H200": "H200",
    "RTX-5090": "RTX5090", "B200": "B200",  # RunPod / Lambda in SkyPilot 0.14's catalog fetchers
    # No SkyPilot cloud lists a 3060: the name (SkyPilot writes RTX names without the dash) only matches your
    # own Kubernetes or SSH node pool labelled so.
    "RTX-3060": "RTX3060",
    # Owned-only cards (no rental price in the catalog): likewise, your own node pool labelled so.
    "RTX-4060": "RTX4060", "RTX-4060-Ti-16GB": "RTX4060Ti", "RTX-4070": "RTX4070", "RTX-4080": "RTX4080",
}


def sky_accelerator(gpu_id: str) -> str:
    """SkyPilot's name of a catalog GPU; a user's own GPU id goes through as written (dashes dropped)."""
    return SKY_ACCELERATORS.get(gpu_id, gpu_id.replace("-", ""))


def sky_yaml(plan: dict[str, Any]) -> str:
    """The SkyPilot task of a plan (plan.to_dict()) for open weights on rented GPUs."""
    slug = plan["meta"]["slug"]
    hw = plan["training"]["hardware"]
    hp = plan["training"].get("hyperparameters") or {}
    gpu, count = hw["gpu"], int(hw["gpu_count"])
    accel = sky_accelerator(gpu)
    config = ACCELERATE_CONFIGS.get(str(hw.get("strategy")), "multi_gpu.yaml")
    launcher = "" if count == 1 else (
        f' LAUNCHER="accelerate launch --config_file configs/accelerate/{config} --num_processes {count}"')
    peak = hw.get("peak_memory_gb")
    lines = [
        f"# SkyPilot task for {comment(slug)}: the plan's training run on {count}x {comment(gpu)}, written by ftplan "
        f"{comment(plan['meta']['ftplan_version'])} on {comment(plan['meta']['today'])}.",
        "#",
        '#   pip install "skypilot[aws]"      (or [gcp], [azure], [lambda], [runpod], ...), then `sky check`',
        "#   sky jobs launch sky.yaml --env HF_TOKEN   managed spot: a preempted run restarts and resumes",
        f"#   sky launch -c {comment(slug)} sky.yaml --env HF_TOKEN     one cluster, on demand (`sky down` it after)",
        "#",
        "# The bucket below keeps the checkpoints: outputs/ links to it, so scripts/train.py resumes from the last",
        f"# one (every {comment(hp.get('save_steps', 'save_steps'))} steps, configs/train.yaml). Bucket names are "
        "global: change `name` if it is taken.",
        "",
        f"name: {yaml_value(slug)}",
        "",
        "resources:",
        f"  accelerators: {yaml_value(f'{accel}:{count}')}  # the plan: {count}x {comment(gpu)}"
        + (f", {comment(peak)} GB peak per GPU (estimated)" if peak is not None else ""),
        "  use_spot: true  # spot prices are often a third of on-demand; checkpoints make preemption cheap",
        "  disk_size: 100  # GB: base weights, the dataset cache and a few checkpoints",
        "  job_recovery:  # sky jobs: relaunch a preempted run (and retry a failed one up to this many times)",
        "    max_restarts_on_errors: 2",
        "",
        "workdir: .  # this repository (outputs/, smoke/ and reports/ stay local: .gitignore)",
        "",
        "file_mounts:",
        "  /checkpoints:",
        f"    name: {yaml_value(slug + '-checkpoints')}  # the bucket SkyPilot creates on the chosen cloud",
        "    mode: MOUNT",
        "",
        "envs:",
        '  HF_TOKEN: ""  # gated base models (e.g. Llama) need it: pass --env HF_TOKEN (read from your shell)',
        "",
        "setup: |",
        "  pip install -e .",
        "",
        "run: |",
        "  set -e",
        f"  mkdir -p /checkpoints/{slug} outputs",
        f"  ln -sfn /checkpoints/{slug} outputs/{slug}",
        f"  make train{launcher}",
        "  make eval",
        "",
    ]
    return "\n".join(lines)

"""Training configuration: one frozen dataclass per stage, loaded from TOML, overridable from the CLI.

    cfg = load_config("train/configs/default.toml", ["step3.epochs=5", "loss.lambda_cam=0.02"])

Every value has a default (the paper's recipe where the paper gives one); a TOML file or a
`--set key=value` only changes what it names. Loading is `camerapose.core.config`'s (the runtime's
loader too): an unknown key or a value of the wrong type raises InputError naming the key and the
file or --set it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camerapose.core import config
from camerapose.models.pose import PoseModelConfig

from .augment import AugmentorConfig, DiscriminatorConfig

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class SyntheticConfig:
    """The synthetic source (`data/synthetic.py`): sizes and seeds of its splits."""

    n_train: int = 200_000  # 2D-3D pairs
    n_2d_only: int = 50_000  # samples whose 3D and camera are withheld (stand-in for MPII/COCO)
    n_test: int = 10_000  # held-out split, drawn from a different seed
    seed: int = 0
    noise: bool = True  # detector-noise model on the input 2D (else the input is the clean 2D)


@dataclass(frozen=True)
class MixConfig:
    """Shares of the "mix" 3D source (normalised to sum to 1): the motion library (`data/motions.py`),
    the joint-angle prior (`data/synthetic.py`, coverage of rare poses) and the real motion-capture
    clips whose licence lets them train (`data/mocap.py`). Sizes come from [data.synthetic]."""

    motions: float = 0.7
    prior: float = 0.1
    mocap: float = 0.2


@dataclass(frozen=True)
class DataConfig:
    """Which datasets train and which evaluate; paths are what users bring (docs/training.md formats)."""

    train_3d: str = "synthetic"  # "mix" | "synthetic" (the prior alone) | "h36m"
    train_2d_only: tuple[str, ...] = ("synthetic",)  # any of "synthetic", "mix", "mpii", "coco"
    test: tuple[str, ...] = ("synthetic",)  # any of "synthetic", "mix", "mocap", "h36m", "3dhp", "3dpw"
    h36m_3d: str = ""  # data_3d_h36m.npz
    h36m_2d: str = ""  # data_2d_h36m_*.npz (ground truth or detections); "" = project the 3D
    mpii: str = ""  # MPII official mpii_human_pose_v1_u12_1.mat
    coco: str = ""  # COCO person_keypoints_*.json
    mpi_inf_3dhp: tuple[str, ...] = ()  # TS*/annot_data.mat files of the 3DHP test set
    threedpw: str = ""  # 3DPW sequenceFiles/test directory
    detections: str = ""  # optional 2D-detections file replacing the 2D input of `train_3d`
    # `camerapose detect VIDEO --json` outputs (with BlazePose's 3D, "kp3d_teacher") as 2D-only real frames
    # with a teacher's 3D; "{cache}" is the asset cache. Each frame is repeated `teacher_repeat` times.
    teacher: tuple[str, ...] = ()
    teacher_repeat: int = 1
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    mocap_cameras: int = 3  # evaluation cameras per validation frame of the "mocap" test set


@dataclass(frozen=True)
class StepConfig:
    """One training step of the schedule: epochs, optimiser and learning-rate decay."""

    epochs: int = 10
    lr: float = 1e-4
    milestones: tuple[int, ...] = ()  # epochs at which lr *= gamma
    gamma: float = 0.1
    batch_size: int = 1024
    max_iters_per_epoch: int = 0  # 0 = a full pass over the data


@dataclass(frozen=True)
class LossConfig:
    """The paper's loss weights (Eq. 16-17) and the augmentor's."""

    lambda_ref: float = 1.0
    lambda_cam: float = 0.01
    lambda_2d: float = 0.5  # lambda_{2D, phi}: 2D-3D batches
    lambda_2d_only: float = 0.2  # lambda_{2D, phi'}: 2D-only batches
    lambda_3d: float = 1.0
    lambda_teacher: float = 0.1  # weak 3D target on 2D-only real frames with a teacher's 3D (data.teacher)
    lambda_gan: float = 1.0  # generator's adversarial terms (3D and 2D discriminators)
    lambda_reg: float = 0.1  # augmentor regularisers (angle and length change, rotation)
    augment: bool = True  # train the lifter on augmented pairs too (steps 2 and 3)
    # PoseAug's hardness feedback (step 3, with `augment`): the generator aims the lifter's error on
    # an augmented pose at beta x its error on the original; beta ramps linearly over step 3.
    hardness: bool = True
    lambda_hard: float = 1.0
    hardness_beta_start: float = 1.5  # beta in step 3's first epoch
    hardness_beta: float = 2.5  # beta in step 3's last epoch

    def __post_init__(self) -> None:
        if not self.lambda_hard >= 0:
            raise ValueError(f"lambda_hard must be >= 0, got {self.lambda_hard}")
        for name in ("hardness_beta_start", "hardness_beta"):
            value = getattr(self, name)
            if not value >= 1:
                raise ValueError(f"{name} must be >= 1 (1 = as hard as the original), got {value}")


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    out_dir: str = "runs/default"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    log_every: int = 50  # iterations between logged losses
    tensorboard: bool = True  # when the tensorboard package is installed


@dataclass(frozen=True)
class TrainConfig:
    model: PoseModelConfig = field(default_factory=PoseModelConfig)
    augmentor: AugmentorConfig = field(default_factory=AugmentorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    step1: StepConfig = field(
        default_factory=lambda: StepConfig(epochs=100, lr=1e-4, milestones=(30, 60, 90)))
    step2: StepConfig = field(default_factory=lambda: StepConfig(epochs=10, lr=1e-4))
    step3: StepConfig = field(default_factory=lambda: StepConfig(epochs=75, lr=5e-4, milestones=(30, 60)))
    run: RunConfig = field(default_factory=RunConfig)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults, then the TOML file (if any), then each `key.path=value` override."""
    return config.load(TrainConfig, path, overrides)

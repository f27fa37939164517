"""The three-step schedule of the CameraPose paper, as one table (`schedule`).

1. RefineNet alone on (detected 2D, confidence) -> ground-truth 2D with L_ref, over the 2D of both
   training sets (the 2D-only set has 2D labels too).
2. Warm-up: per iteration, the augmentor's discriminators then its generator (LS-GAN), then the
   lifter + camera branch on real + augmented 2D-3D pairs (Eq. 16 without L_ref; RefineNet frozen).
3. End to end: the same G/D updates, with PoseAug's hardness feedback on the generator, then the
   whole PoseModel on real + augmented pairs (Eq. 16), then the whole PoseModel on a 2D-only batch
   (Eq. 17), which is what trains the camera branch and lifter from 2D-only data.

The training loop (`loop.py`) reads a phase's fields; it never tests a step number.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import LossConfig, StepConfig, TrainConfig

PARTS = ("refine", "lifter", "camera")  # PoseModel's submodules, in the order they hold parameters


@dataclass(frozen=True)
class Phase:
    """One step of the schedule: what trains and which updates each iteration runs, in this order:
    `refine_alone`, `gan`, `pose`, `two_d_only`."""

    step: int  # 1, 2 or 3: names the step in logs, in last.pt (for --resume) and seeds its batches
    name: str  # a few words for the log
    trains: tuple[str, ...]  # PoseModel parts (of PARTS, in that order) the "pose" optimiser updates
    settings: StepConfig  # epochs, lr, milestones, gamma, batch size, iteration cap (TrainConfig.stepN)
    refine_alone: bool = False  # RefineNet alone with L_ref, over both sets' 2D
    gan: bool = False  # a discriminator update then a generator update (LS-GAN + regulariser)
    pose: bool = False  # a PoseModel update on real (+ augmented, with loss.augment) 2D-3D pairs
    two_d_only: bool = False  # then a PoseModel update on a 2D-only batch (Eq. 17), where that set exists
    ref_loss: bool = False  # the PoseModel updates include L_ref (off while RefineNet is frozen)
    hardness: bool = False  # the generator gets PoseAug's hardness feedback (see `hardness_beta`)

    @property
    def frozen(self) -> tuple[str, ...]:
        """The PoseModel parts this phase does not train: no gradients, and eval mode, so their
        BatchNorm statistics stay as they are."""
        return tuple(p for p in PARTS if p not in self.trains)


def schedule(cfg: TrainConfig) -> tuple[Phase, ...]:
    """The phases in the order they run, with their settings from `cfg.step1/2/3`."""
    return (
        Phase(1, "RefineNet alone", ("refine",), cfg.step1, refine_alone=True),
        Phase(2, "warm-up: G/D, then lifter + camera", ("lifter", "camera"), cfg.step2,
              gan=True, pose=True),
        Phase(3, "end to end: G/D, then the whole model", PARTS, cfg.step3,
              gan=True, pose=True, two_d_only=True, ref_loss=True, hardness=True),
    )


def hardness_beta(loss: LossConfig, phase: Phase, epoch: int) -> float | None:
    """The feedback's target factor in this epoch of `phase`, or None where the term is off.

    PoseAug turns its feedback on after a warm-up on a pre-trained pose model and raises beta
    linearly over training; here that is the phase with `hardness` (step 3: in step 2 the lifter
    is still learning from scratch, so its error says nothing about hardness), ramped over its
    epochs. Without `augment` the augmented poses never reach the lifter: nothing to steer.
    """
    if not (phase.hardness and loss.hardness and loss.augment) or loss.lambda_hard == 0:
        return None
    frac = epoch / max(phase.settings.epochs - 1, 1)
    return loss.hardness_beta_start + (loss.hardness_beta - loss.hardness_beta_start) * min(frac, 1.0)

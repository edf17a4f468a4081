"""What a run trains, and for how long: a new run's two budgets (`stage_budgets`), and for a
resumed run the stage the user chose (`TrainSettings.resume_stage`) and each stage's budget.

- "auto" (no `--stage`): the run goes on as planned: the tokenizer continues while its budget has
  room, then the prior; more minutes go to the prior once the tokenizer has finished.
- "tokenizer": the tokenizer alone continues (its best checkpoint and the prior are left as they
  are; a prior trained on the earlier tokenizer's codes then needs `--stage prior`).
- "prior": the prior alone continues, on the codes of the tokenizer as it is.
- "both": the tokenizer continues, then the prior, sharing the time as a new run does.

A chosen stage gets `--minutes M` (its share, for "both") on top of the time it has trained,
`--tokenizer-steps N` / `--prior-steps N` as its total of steps, or, with neither, as much again
as its stored budget. Every budget here is absolute (`Budget`: totals, counting the time before
the resume), except a prior that has not started yet, whose minutes include encoding its windows
(`prior_stage.prior_budget`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vqstudio.errors import ProjectError
from vqstudio.project import Project
from vqstudio.project.record import BudgetSplit, StageProgress
from vqstudio.training.budget import Budget
from vqstudio.training.settings import DEFAULT_MINUTES, RESUME_STAGES, TrainSettings

__all__ = ["RESUME_STAGES", "ResumePlan", "resume_budgets", "resume_plan", "stage_budgets"]


def stage_budgets(settings: TrainSettings, with_prior: bool) -> tuple[Budget, float | None, BudgetSplit]:
    """A new run's budgets: the tokenizer's, the prior's minutes (None: steps only) and the split,
    as stored. Steps given: each stage runs its steps. Minutes given (or neither: the default
    minutes): the tokenizer gets (1 - `settings.prior_share`) of the time when a prior follows, else
    all of it.
    """
    steps_given = settings.tokenizer_steps is not None
    minutes = settings.minutes if settings.minutes is not None else (None if steps_given else DEFAULT_MINUTES)
    if minutes is None:
        split = BudgetSplit("steps", None, settings.tokenizer_steps, settings.prior_steps)
        return Budget(steps=settings.tokenizer_steps), None, split
    share = settings.prior_share if with_prior else 0.0
    tok_s = minutes * 60 * (1 - share)
    # In minutes, the tokenizer's steps (when given) cap its share.
    split = BudgetSplit("minutes", minutes, settings.tokenizer_steps, None, 1 - share, share)
    return Budget(steps=settings.tokenizer_steps, seconds=tok_s), minutes * share, split


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run trains. `tokenizer`: its budget, None when it does not train this run.
    `prior`: whether the prior trains; `prior_budget` its absolute budget when it resumes a
    checkpoint, else `prior_minutes` (this run's) and the settings' prior steps apply."""

    tokenizer: Budget | None
    prior: bool
    prior_budget: Budget | None
    prior_minutes: float | None
    split: BudgetSplit


def resume_budgets(
    project: Project, settings: TrainSettings, with_prior: bool
) -> tuple[Budget, float | None, BudgetSplit]:
    """Budgets of an "auto" resume: the tokenizer's, the prior's minutes for this run (None: its
    stored budget, or its steps) and the split, as stored. No budget given: the stored ones (the
    run continues to its end). `--minutes M`: M more minutes (the tokenizer's share goes to the
    prior when the tokenizer had finished and a prior follows). `--tokenizer-steps N`: the
    tokenizer runs up to step N in all."""
    progress = project.stage("tokenizer")
    split = project.record.budget or BudgetSplit()
    if settings.minutes is None and settings.tokenizer_steps is None:
        if progress.budget_steps is not None or progress.budget_seconds is not None:
            budget = Budget(steps=progress.budget_steps, seconds=progress.budget_seconds)
        else:
            budget = stage_budgets(settings, with_prior)[0]
        prior_minutes = None
        if settings.prior_steps is None and split.mode == "minutes" and not project.stage("prior").step:
            minutes = split.minutes if split.minutes is not None else DEFAULT_MINUTES
            fraction = split.prior_fraction if split.prior_fraction is not None else settings.prior_share
            prior_minutes = minutes * fraction  # a prior not started yet: its planned share
        return budget, prior_minutes, split
    if settings.minutes is None:
        split = dataclasses.replace(
            split, mode="steps", tokenizer_steps=settings.tokenizer_steps, prior_steps=settings.prior_steps
        )
        return Budget(steps=settings.tokenizer_steps), None, split
    if progress.done and with_prior:
        budget = Budget(steps=progress.step)  # finished: all the new time goes to the prior
        return budget, settings.minutes, _minutes_split(split, settings.minutes, 0.0)
    share = settings.prior_share if with_prior else 0.0
    budget = Budget(
        steps=settings.tokenizer_steps, seconds=progress.elapsed_s + settings.minutes * 60 * (1 - share)
    )
    return budget, settings.minutes * share, _minutes_split(split, settings.minutes, 1 - share)


def _minutes_split(split: BudgetSplit, minutes: float, tokenizer_fraction: float) -> BudgetSplit:
    return dataclasses.replace(
        split,
        mode="minutes",
        resumed_minutes=minutes,
        tokenizer_fraction=tokenizer_fraction,
        prior_fraction=1.0 - tokenizer_fraction,
    )


def _again(progress: StageProgress, steps: int | None, extra_s: float | None, default_steps: int) -> Budget:
    """A resumed stage's absolute budget: `steps` in all, `extra_s` more seconds, or (neither
    given) as much again as its stored budget (`default_steps` more when it stored none)."""
    if steps is not None or extra_s is not None:
        seconds = None if extra_s is None else progress.elapsed_s + extra_s
        return Budget(steps=steps, seconds=seconds)
    if progress.budget_seconds is not None:
        return Budget(seconds=progress.elapsed_s + progress.budget_seconds)
    return Budget(steps=progress.step + (progress.budget_steps or default_steps))


def resume_plan(project: Project, settings: TrainSettings, with_prior: bool) -> ResumePlan:
    """What a resume of `project` trains (see the module docstring)."""
    from vqstudio.training.prior_stage import DEFAULT_PRIOR_STEPS

    stage = settings.resume_stage
    prior = project.stage("prior")
    prior_started = "prior" in project.record.progress
    if stage == "auto":
        tokenizer, minutes, split = resume_budgets(project, settings, with_prior)
        budget = None
        if with_prior and prior_started:  # the prior continues: its minutes come on top of its time
            extra = None if minutes is None else minutes * 60
            if extra is not None or settings.prior_steps is not None:
                budget = _again(prior, settings.prior_steps, extra, DEFAULT_PRIOR_STEPS)
            elif prior.budget_steps is not None or prior.budget_seconds is not None:
                budget = Budget(steps=prior.budget_steps, seconds=prior.budget_seconds)  # to its end
            else:
                budget = Budget(steps=DEFAULT_PRIOR_STEPS)
        return ResumePlan(tokenizer, with_prior, budget, minutes, split)

    trains_tokenizer, trains_prior = stage in ("tokenizer", "both"), stage in ("prior", "both")
    if trains_prior and not with_prior:
        raise ProjectError(
            f"--stage {stage} continues the prior, but --prior-steps 0 leaves it out; give --prior-steps N "
            "or choose --stage tokenizer"
        )
    if trains_prior and not project.has_tokenizer:
        raise ProjectError(
            f"{project.path} has no trained tokenizer yet: the prior trains on its codes; "
            "resume the tokenizer first (--stage tokenizer)"
        )
    share = (1 - settings.prior_share) if stage == "both" else 1.0
    extra_s = None if settings.minutes is None else settings.minutes * 60
    split = project.record.budget or BudgetSplit()
    if settings.minutes is not None:
        split = _minutes_split(split, settings.minutes, share if trains_tokenizer else 0.0)
    tokenizer = None
    if trains_tokenizer:
        tok_extra = None if extra_s is None else extra_s * share
        tokenizer = _again(project.stage("tokenizer"), settings.tokenizer_steps, tok_extra, 0)
    budget, minutes = None, None
    if trains_prior:
        prior_extra = None if extra_s is None else extra_s * (1 - share if stage == "both" else 1.0)
        if prior_started:
            budget = _again(prior, settings.prior_steps, prior_extra, DEFAULT_PRIOR_STEPS)
        else:
            minutes = None if prior_extra is None else prior_extra / 60
    return ResumePlan(tokenizer, trains_prior, budget, minutes, split)

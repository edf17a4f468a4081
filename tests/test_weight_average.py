"""The power-function weight average (EDM2): its width, its first steps, and its checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqstudio.training.weight_average import WeightAverage, gamma_of_width


def test_gamma_matches_the_relative_width():
    for sigma_rel in (0.05, 0.10, 0.15):
        g = gamma_of_width(sigma_rel)
        assert np.isclose((g + 1) / ((g + 2) ** 2 * (g + 3)), sigma_rel**2)
    assert np.isclose(gamma_of_width(0.10), 6.94, atol=0.01)  # EDM2's table
    with pytest.raises(ValueError):
        gamma_of_width(0.3)


def test_the_average_starts_as_a_copy_and_weighs_the_late_steps_most():
    model = torch.nn.Linear(1, 1, bias=False)
    average = WeightAverage(model, sigma_rel=0.10)
    values = np.linspace(0.0, 1.0, 1000)  # the weight walks from 0 to 1 over the run
    for step, v in enumerate(values, start=1):
        model.weight.data.fill_(float(v))
        average.update(model, step)
        if step == 1:
            assert float(average.params[0]) == 0.0  # beta(1) = 0: a copy
    # The profile (s/t)^gamma over a linear walk: mean (gamma + 1) / (gamma + 2) of the way.
    g = average.gamma
    assert float(average.params[0]) == pytest.approx((g + 1) / (g + 2), abs=0.01)
    assert float(model.weight.detach()) == 1.0  # the live weights are not touched


def test_averaged_copy_and_state_round_trip():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    average = WeightAverage(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model, 2)
    copy = average.averaged(model)
    for a, p in zip(copy.parameters(), average.params, strict=True):
        assert torch.equal(a, p) and not a.requires_grad
    other = WeightAverage(model)
    other.load_state_dict(average.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.params, average.params, strict=True))
    with pytest.raises(ValueError, match="is \\(4, 3\\)"):
        WeightAverage(torch.nn.Sequential(torch.nn.Linear(4, 4))).load_state_dict(
            {"0.weight": torch.zeros(4, 3), "0.bias": torch.zeros(4)}
        )

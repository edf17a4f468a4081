"""The tokenizer's critic: its losses, when it trains, and that it travels with the checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vqstudio.models.critic import Critic, critic_loss, feature_matching, generator_loss
from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig, preset_config
from vqstudio.training.optim import make_optimizer
from vqstudio.training.settings import TOKENIZER_OPTIM
from vqstudio.training.tokenizer_stage import tokenizer_step

CPU = torch.device("cpu")
CRITIC = {"critic_weight": 1.0, "feature_weight": 2.0, "critic_periods": (2, 3), "critic_ffts": (32,)}


def _outputs(logit: float) -> list:
    return [(torch.full((2, 1, 4, 3), logit), [torch.ones(2, 4, 4, 3)])]


def test_hinge_losses_have_their_textbook_values() -> None:
    # A critic sure of both (real +2, fake -2) has no loss; one fooled (real -1, fake +1) has 4.
    assert float(critic_loss(_outputs(2.0), _outputs(-2.0))) == 0.0
    assert float(critic_loss(_outputs(-1.0), _outputs(1.0))) == pytest.approx(4.0)
    assert float(generator_loss(_outputs(2.0))) == 0.0
    assert float(generator_loss(_outputs(-1.0))) == pytest.approx(2.0)


def test_feature_matching_is_relative_to_the_real_features() -> None:
    real = [(torch.zeros(1), [torch.full((3,), 4.0)])]
    fake = [(torch.zeros(1), [torch.full((3,), 5.0)])]
    assert float(feature_matching(real, fake)) == pytest.approx(0.25)
    assert float(feature_matching(real, real)) == 0.0


def test_critic_judges_every_period_and_resolution_with_all_channels() -> None:
    critic = Critic(channels=3, periods=(2, 5), ffts=(32, 64), width=4)
    x = torch.randn(2, 3, 250)  # not a multiple of 2 or 5: padded, not refused
    outs = critic(x)
    assert len(outs) == 4
    for logits, features in outs:
        assert logits.shape[0] == 2 and logits.shape[1] == 1
        assert features and all(torch.isfinite(f).all() for f in features)


def test_config_without_critic_has_none_and_stored_configs_read_back() -> None:
    plain = preset_config("small", channels=2, window=256)
    assert not plain.has_critic and Tokenizer(plain).critic is None
    cfg = preset_config("small", channels=2, window=256, **CRITIC)
    back = TokenizerConfig(
        **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    )
    assert back == cfg and back.has_critic
    with pytest.raises(ValueError, match="critic_weight"):
        preset_config("small", channels=2, window=256, critic_weight=-1.0)
    with pytest.raises(ValueError, match="period or FFT"):
        preset_config("small", channels=2, window=256, critic_weight=1.0, critic_periods=(), critic_ffts=())


def _critic_weights(model: Tokenizer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.critic.parameters()]).clone()


def test_critic_waits_for_its_start_then_trains_and_the_tokenizer_feels_it() -> None:
    torch.manual_seed(0)
    model = Tokenizer(preset_config("small", channels=2, window=256, critic_start=2, **CRITIC))
    opt = make_optimizer(model, TOKENIZER_OPTIM)
    x = torch.randn(4, 2, 256)
    before = _critic_weights(model)
    losses, _ = tokenizer_step(model, opt, x, 1.0, CPU, step=0)
    assert torch.equal(_critic_weights(model), before)  # not yet its turn
    assert float(losses["critic"]) == 0.0 and float(losses["adversarial"]) == 0.0
    losses, _ = tokenizer_step(model, opt, x, 1.0, CPU, step=2)
    assert not torch.equal(_critic_weights(model), before)
    assert float(losses["critic"]) > 0 and float(losses["features"]) > 0
    # The decoder's step left no gradient on the critic (it was frozen for the decoder's losses).
    assert all(p.grad is None for p in model.critic.parameters())


@pytest.mark.parametrize("written", ["published", "full (before the critic was left out)"])
def test_a_project_loads_its_tokenizer_without_the_critic(tmp_path, written: str) -> None:
    import numpy as np
    from tiny import record_for

    from vqstudio.data.prep import PrepConfig, prepare
    from vqstudio.project import Project
    from vqstudio.project.checkpoint import save_weights
    from vqstudio.recording import Recording

    x = np.random.default_rng(0).normal(0, 10, (2, 128 * 20))
    prepared = prepare([Recording.from_array(x, 128.0, ["A", "B"], "uV")], PrepConfig(window_s=2.0))
    project = Project.create(str(tmp_path / "p"), record_for(prepared))
    cfg = preset_config("small", channels=2, window=prepared.window, **CRITIC)
    model = Tokenizer(cfg)
    state = model.published_state() if written == "published" else model.state_dict()
    assert any(k.startswith("critic.") for k in model.state_dict())
    assert (written == "published") == (not any(k.startswith("critic.") for k in state))
    save_weights(project.tokenizer_path, state, "tokenizer", dataclasses.asdict(cfg), 1, owner=project.path)
    loaded = project.load_tokenizer()
    assert loaded.critic is None
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_the_critic_travels_in_the_full_state_that_training_resumes_from() -> None:
    cfg = preset_config("small", channels=2, window=256, **CRITIC)
    model = Tokenizer(cfg)
    state = model.state_dict()
    assert any(k.startswith("critic.") for k in state)
    again = Tokenizer(cfg)
    again.load_state_dict(state)
    assert torch.equal(_critic_weights(again), _critic_weights(model))

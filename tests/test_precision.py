"""The matmul-precision switch: bf16 layers compute in bfloat16 with float32 parameters and losses;
float32 pins exact float32 matmuls; bf16 trains to nearly the default's losses."""

import dataclasses
import os

import jax
import numpy as np
import pytest

from crl.agents import agent_module
from crl.bench import synthetic_dataset
from crl.config import CRLConfig, MRCRLConfig
from crl.data.sampling import to_device
from crl.train import run_chunk, stack

SMALL = dict(batch_size=64, hidden=(64, 64), latent_dim=16)
FULL = os.environ.get("CRL_TEST_SCALE") == "full"


def _train(config, steps=50):
    data = to_device(synthetic_dataset(4000, 4, 2, episode=101), config.needs_next_observations)
    state = stack([agent_module(config).init(jax.random.PRNGKey(0), config, 4, 2)])
    lowered = run_chunk.lower(state, data, config, steps)
    state, metrics = run_chunk(state, data, config, steps)
    return state, jax.device_get(metrics), lowered.as_text()


MRCRL_SMALL = MRCRLConfig(**SMALL, encoder_hidden=(64,), zs_dim=16, proj_hidden=32, proj_dim=16, horizon=3)


_IN_FULL = pytest.mark.skipif(not FULL, reason="CRL_TEST_SCALE=full; CI's reduced form: CRL's layers")


@pytest.mark.slow
@pytest.mark.parametrize("config", [CRLConfig(**SMALL), pytest.param(MRCRL_SMALL, marks=_IN_FULL)])
def test_bf16_computes_in_bfloat16_and_keeps_float32_state(config):
    _, ref, ref_text = _train(config)
    state, bf16, text = _train(dataclasses.replace(config, precision="bf16"))
    assert "bf16" in text and "bf16" not in ref_text
    assert {x.dtype for x in jax.tree.leaves(state.params)} == {np.dtype("float32")}
    for key in ("critic/loss", "actor/loss"):
        assert bf16[key].dtype == np.float32
        assert bf16[key] != ref[key]  # it did change the arithmetic
        np.testing.assert_allclose(bf16[key], ref[key], rtol=0.05, atol=0.02)


def test_float32_precision_pins_the_highest_matmul_precision():
    _, _, default_text = _train(CRLConfig(**SMALL))  # the program the bf16 test compiled
    _, _, text = _train(CRLConfig(**SMALL, precision="float32"))
    assert "HIGHEST" in text and "HIGHEST" not in default_text

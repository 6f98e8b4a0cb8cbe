"""Recurrent models: shapes of the three task modes, read-outs, initialization, gradients through time, tasks."""
import math

import pytest
import torch

from neuroai.data.sequences import adding_problem, copy_memory, copy_memory_baseline
from neuroai.models.recurrent import (CELLS, MODES, SequenceModel, detach_state, input_gradient_norms,
                                      make_recurrent, orthogonal_init, recurrent_weights)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("mode", MODES)
def test_every_cell_in_every_mode(cell, mode):
    model = SequenceModel(3, 8, 2, cell=cell, mode=mode, layers=2, steps=6, seed=0)
    x = torch.randn(4, 3) if mode == "one_to_many" else torch.randn(6, 4, 3)
    out = model(x)
    assert out.shape == {"many_to_one": (4, 2), "many_to_many": (6, 4, 2), "one_to_many": (6, 4, 2)}[mode]
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_bidirectional_many_to_one_reads_both_final_states():
    model = SequenceModel(3, 5, 2, cell="gru", bidirectional=True, seed=0)
    x = torch.randn(7, 4, 3)
    _, h_n = model.core(x)           # (directions, batch, hidden)
    expected = model.readout(torch.cat([h_n[0], h_n[1]], dim=-1))
    torch.testing.assert_close(model(x), expected)


def test_one_to_many_sees_its_input_only_at_the_first_step():
    model = SequenceModel(3, 5, 2, cell="rnn", mode="one_to_many", steps=4, seed=0)
    x = torch.randn(2, 3)
    padded = torch.cat([x.unsqueeze(0), torch.zeros(3, 2, 3)])
    torch.testing.assert_close(model(x), model.readout(model.core(padded)[0]))


def test_seeded_models_are_identical_and_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a, b = SequenceModel(3, 6, 2, seed=5), SequenceModel(3, 6, 2, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "spiking_rnn", "spiking_lstm"])
def test_orthogonal_init_makes_every_recurrent_block_orthogonal(cell):
    core = make_recurrent(cell, 3, 6, layers=2)
    orthogonal_init(core)
    weights = recurrent_weights(core)
    assert len(weights) == 2
    for w in weights:
        for block in w.split(6, dim=0):
            torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)


def test_spiking_cores_emit_spikes_and_refuse_bidirectional():
    core = make_recurrent("spiking_rnn", 3, 16)
    out, state = core(4 * torch.rand(20, 5, 3))
    assert set(out.unique().tolist()) <= {0.0, 1.0} and 0 < core.last_spike_rate < 1
    assert len(state) == 1 and all(s.shape == (5, 16) for s in state[0])
    with pytest.raises(ValueError, match="runs forward in time only"):
        make_recurrent("spiking_lstm", 3, 4, bidirectional=True)


def test_detach_state_cuts_nested_states():
    core = make_recurrent("spiking_rnn", 2, 3, layers=2)
    _, state = core(torch.rand(4, 1, 2, requires_grad=True))
    assert all(not t.requires_grad for pair in detach_state(state) for t in pair)


def test_gradients_vanish_through_a_tanh_rnn_but_not_an_lstm():
    # |dL/dx_t| from a loss on the last output: a small-weight tanh RNN forgets geometrically
    x = torch.randn(60, 8, 4, generator=torch.Generator().manual_seed(0))
    rnn = SequenceModel(4, 32, 1, cell="rnn", seed=0)
    norms = input_gradient_norms(rnn, x, lambda out: out.sum())
    assert norms[0] < 1e-6 * norms[-1]
    lstm = SequenceModel(4, 32, 1, cell="lstm", forget_bias=3.0, seed=0)   # forget gates open: memory
    norms = input_gradient_norms(lstm, x, lambda out: out.sum())
    assert norms[0] > 1e-3 * norms[-1]


def test_the_lstm_learns_the_copy_task_at_a_delay_where_the_rnn_fails():
    # recall 3 symbols (of 4) after 30 blank steps: chance is 1/4 per recalled symbol
    def recall_accuracy(cell):
        model = SequenceModel(6, 64, 5, cell=cell, mode="many_to_many", seed=0)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for step in range(800):
            x, y = copy_memory(64, delay=30, length=3, symbols=4, seed=step)
            loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        x, y = copy_memory(1000, delay=30, length=3, symbols=4, seed=10_000)
        with torch.no_grad():
            return float((model(x)[-3:].argmax(-1) == y[-3:]).float().mean())

    assert recall_accuracy("lstm") > 0.55
    assert recall_accuracy("rnn") < 0.35


def test_forget_bias_sets_the_lstm_forget_gates():
    model = SequenceModel(3, 4, 2, cell="lstm", layers=2, forget_bias=2.0, seed=0)
    for layer in range(2):
        bias = getattr(model.core, f"bias_ih_l{layer}") + getattr(model.core, f"bias_hh_l{layer}")
        assert torch.all(bias[4:8] == 2.0)


def test_adding_problem_targets_are_the_marked_sums():
    x, y = adding_problem(50, 20, seed=3)
    assert x.shape == (20, 50, 2) and torch.all(x[..., 1].sum(0) == 2)
    torch.testing.assert_close((x[..., 0] * x[..., 1]).sum(0), y)
    first = x[..., 1].argmax(0)
    assert torch.all(first < 10)                                     # one marker in each half
    assert torch.equal(adding_problem(50, 20, seed=3)[0], x)         # seeded


def test_copy_memory_asks_back_the_symbols_after_the_delimiter():
    x, y = copy_memory(6, delay=7, length=3, symbols=4, seed=1)
    tokens = x.argmax(-1)
    assert x.shape == (13, 6, 6) and y.shape == (13, 6)
    assert torch.all(tokens[9] == 5) and torch.all(tokens[3:9] == 0) and torch.all(tokens[10:] == 0)
    assert torch.equal(y[-3:], tokens[:3]) and torch.all(y[:-3] == 0)
    assert copy_memory_baseline(7, 3, 4) == pytest.approx(3 * math.log(4) / 13)


@pytest.mark.parametrize("call, text", [
    (lambda: SequenceModel(3, 4, 2, mode="many_to_many")(torch.randn(5, 3)), r"expects x of shape \(T, B, input_size\)"),
    (lambda: SequenceModel(3, 4, 2, mode="one_to_many"), "needs 'steps'"),
    (lambda: SequenceModel(3, 4, 2, cell="transformer"), "parameter 'cell' must be one of"),
    (lambda: copy_memory(4, delay=0), "parameter 'delay' must be >= 1"),
])
def test_bad_arguments(call, text):
    with pytest.raises(ValueError, match=text):
        call()


@pytest.mark.parametrize("cell", ["spiking_rnn", "spiking_lstm"])
def test_a_spiking_core_remembers_its_first_input(cell):
    # input_size != hidden_size: snnTorch 1.0's SLSTM.forward silently restarts from zeros in that case
    core = make_recurrent(cell, 3, 16)
    x = torch.rand(6, 4, 3, generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[0] += 2.0
    (_, last), (_, last_changed) = core(x)[1][0], core(changed)[1][0]     # final membranes
    assert not torch.allclose(last, last_changed)


@pytest.mark.parametrize("cell", ["spiking_rnn", "spiking_lstm"])
@pytest.mark.parametrize("readout", ["spikes", "trace"])
def test_a_spiking_core_continues_exactly_from_a_carried_state(cell, readout):
    core = make_recurrent(cell, 3, 8, layers=2, readout=readout)
    x = 3 * torch.rand(10, 2, 3, generator=torch.Generator().manual_seed(1))
    whole, state = core(x)
    first, middle = core(x[:4])
    second, end = core(x[4:], middle)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    for a, b in zip(detach_state(end), detach_state(state)):
        for s, t in zip(a, b):
            torch.testing.assert_close(s, t)


def test_the_trace_read_out_low_pass_filters_the_last_layers_spikes():
    x = 3 * torch.rand(12, 2, 3, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    spikes, _ = make_recurrent("spiking_rnn", 3, 8)(x)
    torch.manual_seed(0)
    trace, state = make_recurrent("spiking_rnn", 3, 8, readout="trace", trace_decay=0.7)(x)
    expected, r = [], torch.zeros(2, 8)
    for s in spikes:
        r = 0.7 * r + s
        expected.append(r)
    assert spikes.sum() > 0
    torch.testing.assert_close(trace, torch.stack(expected))
    assert len(state) == 1 and len(state[0]) == 3 and torch.equal(state[0][2], trace[-1])


def test_the_spiking_lstm_fires_with_its_default_threshold_and_refuses_one_it_cannot_reach():
    core = make_recurrent("spiking_lstm", 3, 32)
    core(torch.randn(20, 8, 3, generator=torch.Generator().manual_seed(0)))
    assert 0.01 < core.last_spike_rate < 0.99
    with pytest.raises(ValueError, match="must be < 1 for kind 'slstm'"):
        make_recurrent("spiking_lstm", 3, 4, threshold=1.0)


def test_layer_spike_rates_average_to_the_spike_rate():
    core = make_recurrent("spiking_rnn", 3, 16, layers=3)
    core(4 * torch.rand(20, 5, 3))
    assert len(core.last_layer_spike_rates) == 3
    assert core.last_spike_rate == pytest.approx(sum(core.last_layer_spike_rates) / 3)


@pytest.mark.parametrize("cell", ["spiking_rnn", "spiking_lstm"])
def test_learned_decays_and_thresholds_are_per_neuron_parameters(cell):
    core = make_recurrent(cell, 3, 8, layers=2, learn_beta=cell == "spiking_rnn", learn_threshold=True)
    out, _ = core(3 * torch.rand(6, 4, 3))
    out.sum().backward()
    names = ["threshold"] + (["beta"] if cell == "spiking_rnn" else [])
    for cell_module in core.cells:
        for name in names:
            p = getattr(cell_module, name)
            assert isinstance(p, torch.nn.Parameter) and p.shape == (8,) and p.grad is not None
    fixed = make_recurrent(cell, 3, 8)
    assert not any(n.endswith(("beta", "threshold")) for n, _ in fixed.named_parameters())


def test_a_many_to_one_model_reads_a_spiking_trace_at_the_last_step():
    model = SequenceModel(3, 8, 2, cell="spiking_rnn", spiking_options={"readout": "trace"}, seed=0)
    x = 3 * torch.rand(7, 4, 3)
    torch.testing.assert_close(model(x), model.readout(model.core(x)[0][-1]))
    spikes = SequenceModel(3, 8, 2, cell="spiking_rnn", seed=0)
    torch.testing.assert_close(spikes(x), spikes.readout(spikes.core(x)[0].mean(0)))


@pytest.mark.parametrize("call, error, text", [
    (lambda: make_recurrent("spiking_rnn", 3, 4, beta=1.0), ValueError, r"'beta' must be in \(0, 1\)"),
    (lambda: make_recurrent("spiking_rnn", 3, 4, threshold=0.0), ValueError, "'threshold' must be > 0"),
    (lambda: make_recurrent("spiking_rnn", 3, 4, readout="membrane"), ValueError, "'readout' must be one of"),
    (lambda: make_recurrent("spiking_lstm", 3, 4, trace_decay=0.0), ValueError, r"'trace_decay' must be in \(0, 1\)"),
    (lambda: make_recurrent("lstm", 3, 4, beta=0.5), ValueError, "apply to the spiking cells"),
    (lambda: make_recurrent("spiking_rnn", 3, 4, gain=2.0), TypeError, "unknown spiking options"),
])
def test_bad_spiking_options(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_learned_decays_of_different_layers_are_independent():
    core = make_recurrent("spiking_rnn", 3, 4, layers=2, learn_beta=True)
    with torch.no_grad():
        core.cells[0].beta.fill_(0.7)
    assert torch.all(core.cells[1].beta == 0.2)

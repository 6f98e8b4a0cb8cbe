"""The README's promises: its example runs as printed and its capability
matrix is the one the backends declare."""
import re
from pathlib import Path

import neuroai as na
from neuroai.backends import matrix_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_capability_matrix_is_current():
    block = re.search(r"<!-- capability-matrix -->\n(.*?)\n<!-- /capability-matrix -->", README, re.S)
    assert block and block.group(1) == matrix_table()


def test_example_runs_on_both_backends_with_identical_spikes(capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    for pop in ("exc", "inh"):
        matched, n_brian, n_torch = na.spike_agreement(scope["brian"], scope["torch_"], pop)
        assert matched == n_brian == n_torch > 0


def test_every_simulation_is_listed():
    from neuroai.cli import discover
    missing = [name for name in discover() if f"| `{name}` |" not in README]
    assert not missing, f"simulations missing from the README's table: {missing}"


def test_own_model_example_runs_on_both_backends_with_identical_spikes():
    """The "Your own models" examples, appended to the first example's network."""
    first, own, synapses = re.findall(r"```python\n(.*?)```", README, re.S)[:3]
    assert "NeuronModel" in own and "SynapseModel" in synapses
    scope = {}
    exec(compile(first.split("brian = ")[0] + own + synapses, "README.md", "exec"), scope)
    net = scope["net"]
    net.monitor("eif")
    assert any(isinstance(p.synapse, na.SynapseModel) for p in net.projections.values())
    results = [na.Simulator(net, b, seed=0, **o).run(0.1) for b, o in (("brian2", {}), ("torch", {"dtype": "float64"}))]
    matched, n_brian, n_torch = na.spike_agreement(*results, "eif")
    assert matched == n_brian == n_torch > 0

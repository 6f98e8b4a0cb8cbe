"""NeuronModel populations in torch: the statements Brian2 generates, run on tensors.

At build time the population's NeuronGroup is created exactly as the Brian2
backend creates it (same equations, integration method, namespace and
refractoriness), with a code-object class that records what Brian2's numpy
code generator produces for it: the scalar and vector statements of the
state update, the threshold and the reset, after Brian2's own state updater,
loop-invariant optimisation and rendering. Those statements are compiled
once into Python code that runs them on (batch, n) tensors, term for term
in Brian2's order; ``exp``, ``log``, ``**`` and the other transcendental
functions go through numpy in float64 on the CPU (``torch_math``), so a
NeuronModel is bitwise with the Brian2 backend there, like the built-in
models. The threshold's comparison becomes a surrogate-gradient spike, the
reset a blend with the spikes, so the population trains by gradient descent.
"""
from __future__ import annotations

import ast
import re

import numpy as np
import torch

from . import torch_math

_STEP_TEMPLATES = ("stateupdate", "threshold", "reset")
_CLOCK = re.compile(r"^(t|dt) = _array_\w+_(t|dt)\[0\]$")  # a clock's time or step (neuroai supplies them)


def _brian2_functions():
    """name -> (numpy implementation for scalar code, tensor implementation) of Brian2's functions."""
    from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
    from brian2.core.functions import DEFAULT_FUNCTIONS

    def numpy_impl(name):  # what Brian2's numpy code calls (its pyfunc where it has no numpy implementation)
        function = DEFAULT_FUNCTIONS[name]
        try:
            return function.implementations[NumpyCodeObject].get_code(None)
        except KeyError:
            return function.pyfunc

    unary = {  # name -> (torch function, derivative(x, y))
        "exp": (torch.exp, lambda x, y: y), "log": (torch.log, lambda x, y: 1 / x),
        "log10": (torch.log10, lambda x, y: 1 / (x * np.log(10.0))), "expm1": (torch.expm1, lambda x, y: y + 1),
        "log1p": (torch.log1p, lambda x, y: 1 / (1 + x)), "sin": (torch.sin, lambda x, y: torch.cos(x)),
        "cos": (torch.cos, lambda x, y: -torch.sin(x)), "tan": (torch.tan, lambda x, y: 1 + y * y),
        "sinh": (torch.sinh, lambda x, y: torch.cosh(x)), "cosh": (torch.cosh, lambda x, y: torch.sinh(x)),
        "tanh": (torch.tanh, lambda x, y: 1 - y * y), "arcsin": (torch.arcsin, lambda x, y: (1 - x * x) ** -0.5),
        "arccos": (torch.arccos, lambda x, y: -(1 - x * x) ** -0.5),
        "arctan": (torch.arctan, lambda x, y: 1 / (1 + x * x)),
        "exprel": (lambda x: torch.where(x == 0, 1.0, torch.expm1(x) / x),
                   lambda x, y: torch.where(x == 0, 0.5, (x * (y * x + 1) - y * x) / (x * x))),
    }
    tensor = {name: torch_math.through_numpy(numpy_impl(name), f, d) for name, (f, d) in unary.items()}
    tensor.update(sqrt=torch.sqrt, abs=torch.abs, floor=torch.floor, ceil=torch.ceil, sign=torch.sign,
                  clip=lambda x, lo, hi: torch.clamp(x, lo, hi), int=lambda x: x.to(torch.int64))
    scalar = {name: numpy_impl(name) for name in list(unary) + ["sqrt", "abs", "floor", "ceil", "sign", "clip",
                                                                "int", "timestep"]}
    return scalar, tensor


class _Where:
    """``_numpy.where`` of Brian2's numpy code, on tensors."""

    @staticmethod
    def where(condition, a, b):
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):  # two numbers: float64, as numpy
            a = torch.tensor(a, dtype=torch.float64, device=condition.device)
        return torch.where(condition, a, b)


class _Powers(ast.NodeTransformer):
    """``a ** b`` -> ``_pow(a, b)``: numpy's power in float64 on the CPU."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            return ast.copy_location(ast.Call(ast.Name("_pow", ast.Load()), [node.left, node.right], []), node)
        return node


def _expression(text: str) -> str:
    tree = _Powers().visit(ast.parse(text, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


class _Block:
    """One block of Brian2's numpy code (a code object's vector code),
    compiled to run on tensors: reads of the group's arrays come from the
    state, its writes go back to it, statements keep Brian2's expressions."""

    def __init__(self, lines: list[str], group: str, supplied: set[str], owner: str):
        read = re.compile(rf"^(\w+) = _array_{group}_(\w+)(\.copy\(\)|\[_idx\])?$")
        write = re.compile(rf"^_array_{group}_(\w+)\[(:|_idx)\] = (\w+)$")
        masked = re.compile(r"^(\w+)\[(\w+)\] = (\w+)\[\2\]$")
        statement = re.compile(r"^(\w+) (=|\+=|-=|\*=|/=) (.+)$")
        self.reads, self.writes, code = [], [], []
        for line in (line.split("#")[0].strip() for line in lines):
            if not line or _CLOCK.match(line):
                continue
            if m := read.match(line):
                if m[2] not in supplied:
                    self.reads.append(m[2])
                continue
            if m := write.match(line):
                if m[1] not in supplied:
                    self.writes.append(m[1])
                continue
            if m := masked.match(line):  # a conditional write: var[cond] = _var[cond]
                code.append(f"{m[1]} = _numpy.where({m[2]}, {m[3]}, {m[1]})")
                continue
            m = statement.match(line)
            if m is None:
                raise NotImplementedError(f"{owner}: the torch backend cannot compile Brian2's statement {line!r}")
            target, op, expr = m[1], m[2], m[3]
            if target in supplied:  # Brian2's refractoriness bookkeeping: neuroai keeps its own
                continue
            expr = _expression(expr)
            code.append(f"{target} = {expr}" if op == "=" else f"{target} = {target} {op[0]} ({expr})")
        self.source = "\n".join(code)
        self.code = compile(self.source or "pass", f"<{owner}>", "exec")

    def run(self, env: dict, functions: dict) -> dict:
        exec(self.code, functions, env)
        return env


class ScalarCode:
    """The scalar code of Brian2's blocks (constants, loop invariants such as
    ``exp(-dt/tau)``), run with numpy, as Brian2 runs it, and handed to the
    vector code as Python numbers; computed once where it does not read the time.

    blocks: name -> (scalar lines, vector lines), as ``_capture`` records them.
    constants: the model's scalar parameters (SI floats). dt: seconds.
    """

    def __init__(self, blocks: dict, constants: dict, dt: np.float64, owner: str):
        scalar_fns, _ = _brian2_functions()
        self.constants, self.dt = constants, dt
        self._globals = {**_constants_used(blocks), **scalar_fns, "_pow": lambda a, b: a ** b, "_numpy": np}
        self._code = {name: compile("\n".join(_scalar_lines(lines)) or "pass", f"<{owner}>", "exec")
                      for name, (lines, _) in blocks.items()}
        self._timeless = {name for name, code in self._code.items() if "t" not in code.co_names}
        self._cached = {}

    def values(self, block: str, step: int) -> dict:
        """name -> value of the scalar code of ``block`` at ``step`` (with the constants, ``t`` and ``dt``)."""
        t = (np.float64(step) * self.dt).item()
        if block in self._cached:
            return {**self._cached[block], "t": t}  # (the vector code may read the time)
        env = {**{k: np.float64(v) for k, v in self.constants.items()}, "dt": self.dt, "t": t}
        with np.errstate(all="ignore"):  # as in Brian2's numpy code, 1/0 is inf (and the run stops with NonFiniteState)
            exec(self._code[block], self._globals, env)
        env = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in env.items()}
        if block in self._timeless:
            self._cached[block] = env
        return env


def tensor_globals(blocks: dict) -> dict:
    """What the vector code of ``blocks`` calls, on tensors: Brian2's
    functions, the units and constants it names, ``**`` and ``_numpy.where``."""
    _, tensor_fns = _brian2_functions()
    return {**_constants_used(blocks), **tensor_fns, "_pow": torch_math.power, "_numpy": _Where}


class EquationStep:
    """A NeuronModel population's step, with the interface of the built-in
    models' steps (see ``torch_neurons``): ``integrate`` runs Brian2's state
    update and threshold, ``reset`` its reset statements for the neurons
    that spiked."""

    def __init__(self, network, pop):
        from . import brian2 as brian2_backend

        model, dt = pop.model, network.dt
        self.owner = f"population {pop.name!r} (NeuronModel)"
        self.dt = np.float64(dt)
        self.ref_steps = model.refractory_steps(dt)
        self.gated = model.gated_variables
        self.state_variables = model.state_variables
        self.constants = {p: float(v) for p, v in model.parameters.items() if np.ndim(v) == 0}
        blocks = _capture(brian2_backend, network, pop)
        group = f"neuroai_population_{pop.name}"
        supplied = {"not_refractory", "lastspike", "i"}
        self._scalars = ScalarCode(blocks, self.constants, self.dt, self.owner)
        self._tensor_globals = tensor_globals(blocks)
        self._vector = {name: _Block(lines, group, supplied, self.owner) for name, (_, lines) in blocks.items()}
        self._uses_index = any("i" in block.code.co_names for block in self._vector.values())
        self._margin = None
        if "threshold" in blocks:
            margin = _threshold_margin(self._vector["threshold"].source)
            if margin is not None:
                self._margin = compile(margin, f"<{self.owner} threshold>", "eval")

    def integrate(self, x, currents, last, step, spike_fn):
        """Run Brian2's state update (with refractoriness as the model declares it), then its
        threshold. ``x``: variable -> (batch, n); ``last`` (batch, n): each neuron's last spike step;
        ``step``: the present step. Returns the new state, ``currents`` unchanged, the spikes (batch, n)
        (0/1, surrogate-gradient where the threshold is a comparison) and where delta inputs may land
        (not refractory and not spiking; None without refractoriness)."""
        x = dict(x)
        any_state = x[self.state_variables[0]]
        env_extra = {"N": any_state.shape[1]}
        if self._uses_index:
            env_extra["i"] = torch.arange(any_state.shape[1], device=any_state.device)
        not_ref = None
        if self.ref_steps:
            not_ref = (step - last) >= self.ref_steps
            env_extra["not_refractory"] = not_ref
        self._step = step  # (for the reset, which runs later in the same step)
        if "stateupdate" in self._vector:
            self._run("stateupdate", x, step, env_extra)
        if "threshold" in self._vector:
            env = self._run("threshold", x, step, env_extra, write=False)
            cond = env["_cond"]
            if not isinstance(cond, torch.Tensor):  # a constant condition
                cond = torch.full(any_state.shape, bool(cond), device=any_state.device)
            spikes = cond.to(any_state.dtype).expand(any_state.shape)
            if self._margin is not None and torch.is_grad_enabled():
                surrogate = spike_fn(eval(self._margin, self._tensor_globals, env))
                spikes = spikes + (surrogate - surrogate.detach())
        else:
            spikes = any_state.new_zeros(any_state.shape)
        is_open = None if not_ref is None else not_ref & (spikes == 0)
        return x, currents, spikes, is_open

    def _run(self, block: str, x: dict, step: int, extra: dict, write: bool = True) -> dict:
        compiled = self._vector[block]
        env = {**self._scalars.values(block, step), **extra, **{var: x[var] for var in compiled.reads}}
        compiled.run(env, self._tensor_globals)
        if write:
            for var in compiled.writes:
                x[var] = env[var]
        return env

    def reset(self, x, s):
        """Brian2's reset statements applied where ``s`` (batch, n) is 1, evaluated at the step of the last
        :meth:`integrate` (a blend, differentiable in ``s``, when ``s`` requires grad). Returns the new state."""
        if "reset" not in self._vector:
            return x
        env = self._run("reset", x, self._step, {"N": s.shape[1]}, write=False)
        x = dict(x)
        spiked = None if s.requires_grad else s.bool()  # (s is 0 or 1; a cast is cheaper than a comparison)
        for var in self._vector["reset"].writes:
            if spiked is None:  # differentiable in s: exactly the reset where s = 1, unchanged where s = 0
                x[var] = x[var] * (1.0 - s) + s * env[var]
            else:
                x[var] = torch.where(spiked, env[var], x[var])
        return x


def _constants_used(blocks) -> dict[str, float]:
    """The unit names (``mV``, ``ms``, ...) and constants (``pi``, ``e``, ``inf``) the code uses, as SI floats."""
    from brian2.equations.equations import DEFAULT_CONSTANTS, DEFAULT_UNITS

    names = set()
    for scalar, vector in blocks.values():
        for line in scalar + vector:
            names |= set(re.findall(r"[A-Za-z_]\w*", line))
    out = {name: float(DEFAULT_UNITS[name]) for name in names & set(DEFAULT_UNITS)}
    out.update({name: float(DEFAULT_CONSTANTS[name].value) for name in names & set(DEFAULT_CONSTANTS)})
    return out


def _scalar_lines(lines: list[str]) -> list[str]:
    """Brian2's scalar code without its clock reads (dt and t are supplied)."""
    return [line for line in lines if not _CLOCK.match(line.strip())]


def _threshold_margin(source: str) -> str | None:
    """The expression whose sign decides the threshold's first comparison
    (``a > b`` -> ``a - b``), for the surrogate gradient; None if the
    condition has no comparison."""
    cond = next((stmt.value for stmt in ast.parse(source).body
                 if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "_cond"), None)
    node = cond
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
        node = node.left if isinstance(node.left, (ast.Compare, ast.BinOp)) else node.right
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = node.left, node.comparators[0]
        if isinstance(node.ops[0], (ast.Lt, ast.LtE)):
            left, right = right, left
        if isinstance(node.ops[0], (ast.Gt, ast.GtE, ast.Lt, ast.LtE)):
            return f"({ast.unparse(left)}) - ({ast.unparse(right)})"
    return None


def recording_codeobject(recorded: dict, templates) -> type:
    """A Brian2 numpy code-object class that records, for each code object
    of one of ``templates`` it generates, the (scalar lines, vector lines)
    Brian2's numpy code generator writes: ``recorded[(template, name)]``."""
    from brian2.codegen.generators.numpy_generator import NumpyCodeGenerator
    from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

    class Recorder(NumpyCodeGenerator):
        def translate(self, code, dtype):
            out = super().translate(code, dtype)
            if self.template_name in templates:
                recorded[(self.template_name, self.name)] = (out[0][None], out[1][None])
            return out

    class Capture(NumpyCodeObject):
        generator_class = Recorder

    return Capture


def prepare(group) -> None:
    """Let a Brian2 group generate its code objects (without running)."""
    group._network = "neuroai torch backend"  # (never run: no warning about an unused object)
    for obj in group.contained_objects:
        obj.before_run({})


def _capture(brian2_backend, network, pop) -> dict[str, tuple[list[str], list[str]]]:
    """template -> (scalar lines, vector lines) that Brian2's numpy code
    generator writes for the population's state update, threshold and reset."""
    import brian2 as b2

    recorded = {}
    owner = f"population {pop.name!r}"
    with brian2_backend._translated_errors(network, owner):
        prepare(brian2_backend._neuron_group(network, pop, network.dt * b2.second,
                                             codeobj_class=recording_codeobject(recorded, _STEP_TEMPLATES)))
    return {template: lines for (template, _), lines in recorded.items()}

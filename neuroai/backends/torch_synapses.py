"""SynapseModel projections in torch: the code Brian2 generates for them, run on tensors.

At build time the projection's ``Synapses`` are created exactly as the
Brian2 backend creates them, with a code-object class that records what
Brian2's numpy code generator writes for their summed variables,
clock-driven equations and the ``on_pre`` and ``on_post`` pathways (event-
driven equations included). Each block is compiled once into Python code
over every synapse at once: per-synapse variables are (batch, n_synapses)
tensors, a neuron's variable read through the synapses is gathered by the
synapses' pre- or postsynaptic index, and a pathway's writes land only
where its spikes arrived. Additions to a neuron's variable from many
synapses (Brian2's ``numpy.add.at``) are summed synapse by synapse in
Brian2's order, so float64 runs are bitwise with the Brian2 backend. Such an
addition on a presynaptic spike carries the spike's surrogate gradient and
the gradient of what is added (the weight), as the built-in synapses do.
"""
from __future__ import annotations

import ast
import re

import numpy as np
import torch

from .torch_equations import (_CLOCK, ScalarCode, _expression, prepare, recording_codeobject, tensor_globals)

_TEMPLATES = ("synapses", "stateupdate", "summed_variable")
_STATEMENT = re.compile(r"^(\w+) (=|\+=|-=|\*=|/=) (.+)$")


def _full(values, like: torch.Tensor) -> torch.Tensor:
    """``values`` (a number or a tensor that broadcasts) as a tensor of ``like``'s shape."""
    if not isinstance(values, torch.Tensor):
        return torch.full_like(like, values)
    return values.to(like.dtype).expand(like.shape)


def _set(old: torch.Tensor, new, active) -> torch.Tensor:
    """Write a per-synapse variable: everywhere, or where ``active``."""
    if active is None:
        return new.to(old.dtype) if isinstance(new, torch.Tensor) and new.shape == old.shape else \
            _full(new, old).clone()
    return torch.where(active, _full(new, old), old)


def _scatter(target, index, values, mask, negate: bool, factor):
    """``numpy.add.at(target, index, values)`` (or ``subtract.at``) over the
    synapses where ``mask`` holds (None: all): the values of the synapses of each target
    neuron added one by one in synapse order, as numpy adds them."""
    values = _full(values, target.new_empty(target.shape[0], len(index)))
    if factor is not None:
        values = values * factor  # 1.0 where a spike arrived: exact, and carries its gradient
    if mask is not None:
        values = torch.where(mask, values, 0.0)
    return target.index_add(1, index, -values if negate else values)


def _assign(target, index, values, mask):
    """``target[index] = values`` over the synapses where ``mask`` holds (None: all); where
    several synapses write one neuron, the last one's value stays (as in numpy)."""
    batch, n = target.shape[0], len(index)
    values = _full(values, target.new_empty(batch, n))
    order = torch.arange(n, device=target.device).expand(batch, n)
    if mask is not None:
        order = torch.where(mask, order, -1)
    last = torch.full(target.shape, -1, dtype=torch.long, device=target.device)
    last = last.scatter_reduce(1, index.expand(batch, n), order, "amax")
    return torch.where(last >= 0, values.gather(1, last.clamp(min=0)), target)


class _SynapticBlock:
    """One block of Brian2's numpy code for a Synapses object, as Python
    code on tensors. Names in the compiled code: ``_syn`` (the synapses'
    variables), ``_pre`` / ``_post`` (the neurons' variables, with their
    ``not_refractory``), ``_pre_idx`` / ``_post_idx`` (each synapse's
    neurons), ``_active`` (where the pathway's spikes arrived, or None: all
    synapses) and ``_spk`` (those spikes, for the gradient, or None)."""

    def __init__(self, lines: list[str], synapses: str, groups: dict[str, str], owner: str):
        S = re.escape(f"_array_{synapses}_")
        self.owner = owner
        patterns = [
            (re.compile(rf"^_(pre|post)synaptic_idx = {S}_synaptic_(pre|post)(\[_idx\])?$"), lambda m: None),
            (re.compile(rf"^(\w+) = {S}_synaptic_(pre|post)(\[_idx\])?$"), lambda m: f"{m[1]} = _{m[2]}_idx"),
            (re.compile(rf"^(\w+) = {S}(\w+)(\.copy\(\)|\[_idx\])?$"), lambda m: f"{m[1]} = _syn[{m[2]!r}]"),
            (re.compile(rf"^{S}(\w+)\[(_idx|:)\] = (\w+)$"),
             lambda m: f"_syn[{m[1]!r}] = _set(_syn[{m[1]!r}], {m[3]}, _active)"),
            (re.compile(r"^(\w+)\[(\w+)\] = (\w+)\[\2\]$"),  # a conditional write
             lambda m: f"{m[1]} = _numpy.where({m[2]}, {m[3]}, {m[1]})"),
        ]
        for group in sorted(set(groups.values())):
            G = re.escape(f"_array_{group}_")
            patterns += [
                (re.compile(rf"^(\w+) = {G}(\w+)\[_(pre|post)synaptic_idx\]$"),
                 lambda m: f"{m[1]} = _{m[3]}[{m[2]!r}][:, _{m[3]}_idx]"),
                (re.compile(rf"^{G}(\w+)\[_(pre|post)synaptic_idx\] = (\w+)$"),
                 lambda m: f"_{m[2]}[{m[1]!r}] = _assign(_{m[2]}[{m[1]!r}], _{m[2]}_idx, {m[3]}, _active)"),
            ]
        self.groups = groups
        code, abstract = [], None
        for line in (line.strip() for line in lines):
            if line.startswith("#  Abstract code:"):
                abstract = line.split(":", 1)[1].strip()
                continue
            line = line.split("#")[0].strip()
            if not line or _CLOCK.match(line):
                continue
            if "_vectorisation_idx" in line or line.startswith("for "):
                raise NotImplementedError(self._cannot(line, abstract, "it draws random numbers or needs Brian2's "
                                                       "synapse-by-synapse loop (a statement that reads a neuron's "
                                                       "variable another statement changes)"))
            if line.startswith("_numpy.") and ".at(" in line:
                code.append(self._ufunc_at(line, abstract))
                continue
            for pattern, translate in patterns:
                if m := pattern.match(line):
                    out = translate(m)
                    if out is not None:
                        code.append(out)
                    break
            else:
                m = _STATEMENT.match(line)
                if m is None:
                    raise NotImplementedError(self._cannot(line, abstract, "of an unknown form"))
                target, op, expr = m[1], m[2], _expression(m[3])
                code.append(f"{target} = {expr}" if op == "=" else f"{target} = {target} {op[0]} ({expr})")
        self.source = "\n".join(code)
        self.code = compile(self.source or "pass", f"<{owner}>", "exec")
        in_place = _decays_in_place(code)
        self.in_place_code = None if in_place == code else compile("\n".join(in_place), f"<{owner}>", "exec")

    def _cannot(self, line: str, abstract: str | None, why: str) -> str:
        statement = f" (from {abstract!r})" if abstract else ""
        return (f"{self.owner}: the torch backend cannot compile Brian2's code {line!r}{statement}: {why}; run "
                f"this model with the brian2 backend")

    def _ufunc_at(self, line: str, abstract) -> str:
        """``_numpy.add.at(array, index, values)`` -> a masked, ordered scatter-add."""
        call = ast.parse(line, mode="eval").body
        ufunc = call.func.value.attr
        if ufunc not in ("add", "subtract") or len(call.args) != 3:
            raise NotImplementedError(self._cannot(line, abstract, f"numpy's {ufunc}.at has no exact tensor "
                                                   f"counterpart (write '+=' or '-=')"))
        array, index, values = call.args
        group_var = next(((group, array.id[len(f"_array_{group}_"):]) for group in self.groups.values()
                          if array.id.startswith(f"_array_{group}_")), None)
        mask = "_active"
        if isinstance(index, ast.Subscript):  # a conditional write: only where the condition holds
            condition = ast.unparse(index.slice)
            mask = f"({condition} if _active is None else _active & {condition})"
            index = index.value
            values = _Unsubscript(condition).visit(values)
        side = {"_postsynaptic_idx": "post", "_presynaptic_idx": "pre"}.get(getattr(index, "id", None))
        if group_var is None or side is None:
            raise NotImplementedError(self._cannot(line, abstract, "of an unknown form"))
        var = group_var[1]
        expr = _expression(ast.unparse(values))
        factor = "_spk" if side == "post" else "None"
        return (f"_{side}[{var!r}] = _scatter(_{side}[{var!r}], _{side}_idx, {expr}, {mask}, "
                f"{ufunc == 'subtract'}, {factor})")


def _decays_in_place(code: list[str]) -> list[str]:
    """``code`` with each ``_x = c * x`` of a synaptic variable ``x`` (``c`` a loop invariant or a number:
    a clock-driven trace's exact decay) made ``_x = x.mul_(c)``, where no statement reads ``x`` before
    ``x = _x``. The same product, bit for bit, without a new (batch, n_synapses) tensor each step; for
    runs without gradients on the state's own tensors (which ``TorchState.copy`` clones)."""
    synaptic = {m[1] for line in code if (m := re.match(r"^(\w+) = _syn\['\1'\]$", line))}
    out = list(code)
    for i, line in enumerate(code):
        stmt = ast.parse(line).body[0]
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BinOp)
                and isinstance(stmt.value.op, ast.Mult) and isinstance(stmt.targets[0], ast.Name)):
            continue
        target, operands = stmt.targets[0].id, (stmt.value.left, stmt.value.right)
        names = [o.id for o in operands if isinstance(o, ast.Name)]
        var = target[1:]
        factor = next((o for o in operands if not (isinstance(o, ast.Name) and o.id == var)), None)
        scalar = (isinstance(factor, ast.Constant) and isinstance(factor.value, (int, float))
                  or isinstance(factor, ast.Name) and re.fullmatch(r"_lio_\d+", factor.id))
        if target != f"_{var}" or var not in synaptic or var not in names or not scalar:
            continue
        until = next((j for j in range(i + 1, len(code)) if code[j] == f"{var} = {target}"), None)
        if until is None or any(var in _loads(code[j]) for j in range(i + 1, until)):
            continue
        out[i] = f"{target} = {var}.mul_({ast.unparse(factor)})"
    return out


def _loads(line: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(line)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class _Unsubscript(ast.NodeTransformer):
    """``x[cond]`` -> ``x``: the condition becomes the write's mask instead."""

    def __init__(self, condition: str):
        self.condition = condition

    def visit_Subscript(self, node):
        self.generic_visit(node)
        return node.value if ast.unparse(node.slice) == self.condition else node


class SynapseStep:
    """A SynapseModel projection in torch: ``summed`` and ``integrate``
    (before the neurons' update), ``on_pre`` and ``on_post`` (the pathways).

    The synapses' variables are the state (``init_state``): (batch,
    n_synapses) tensors; the weight variable is the projection's parameter
    (n_synapses,) itself unless the model changes it (then the state starts
    from it and ``learned_weight`` reads it back).
    """

    def __init__(self, network, proj):
        from . import brian2 as brian2_backend

        model = proj.synapse
        self.model, self.owner = model, f"projection {proj.name!r} (SynapseModel)"
        self.dt = np.float64(network.dt)
        self.learns = model.learns
        blocks, names = _capture(brian2_backend, network, proj)
        groups = {side: names[side] for side in ("pre", "post") if names[side] is not None}
        self._scalars = ScalarCode(blocks, dict(model.parameters), self.dt, self.owner)
        self._globals = {**tensor_globals(blocks), "_set": _set, "_scatter": _scatter, "_assign": _assign}
        compiled = {key: _SynapticBlock(lines, names["synapses"], groups, self.owner)
                    for key, (_, lines) in blocks.items()}
        self._keys = {block: key for key, block in compiled.items()}
        # the part of the synapses each block belongs to: "pre", "post", "stateupdater", "summed_variable_I_post"
        part = {block: re.sub(r"_codeobject(_\d+)?$", "", name)[len(names["synapses"]) + 1:]
                for (_, name), block in compiled.items()}
        named = {p: block for block, p in part.items()}
        self._blocks = {"on_pre": named.get("pre"), "on_post": named.get("post"),
                        "integrate": named.get("stateupdater")}
        self._summed = sorted(((block, p[len("summed_variable_"):]) for block, p in part.items()
                               if p.startswith("summed_variable_")), key=lambda item: item[1])
        self.variables = tuple(v for v in model.variables if v != model.weight or self.learns)
        if any("lastupdate" in block.source for block in compiled.values()):
            self.variables += ("lastupdate",)
        self._indices = {"pre": torch.as_tensor(proj.pre_idx), "post": torch.as_tensor(proj.post_idx)}
        # the synapses of each neuron, for finding those a spike reaches: (synapses in that neuron's order,
        # where each neuron's start there, shape (n + 1,))
        n = {"pre": network.size(proj.pre), "post": network.size(proj.post)}
        self._of_neuron, self._of_neuron_np = {}, {}
        for side, index in (("pre", proj.pre_idx), ("post", proj.post_idx)):
            order = np.argsort(index, kind="stable")
            starts = np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n[side]))])
            self._of_neuron_np[side] = (order, starts)
            self._of_neuron[side] = (torch.as_tensor(order), torch.as_tensor(starts))
        early = [key[1] for key, block in compiled.items()
                 if key[0] != "synapses" and "not_refractory" in block.code.co_names]
        if early:
            raise NotImplementedError(f"{self.owner}: the torch backend cannot compile {early}: summed variables "
                                      f"and clock-driven equations that read a neuron's refractoriness; run this "
                                      f"model with the brian2 backend")

    def init_state(self, weight: torch.Tensor, batch: int) -> dict[str, torch.Tensor]:
        """Every synaptic variable at the start: the weight from ``weight``
        (n_synapses,), the model's ``init`` values, 0 for the others."""
        state = {}
        for var in self.variables:
            if var == self.model.weight:
                state[var] = weight.detach().expand(batch, -1).clone()
            else:
                state[var] = weight.new_full((batch, len(weight)), self.model.init.get(var, 0.0))
        return state

    def summed(self, syn, weight, pre, post, step) -> None:
        """Set each summed variable of the target (or source) neurons to its sum over their synapses."""
        for block, target in self._summed:
            side, var = ("pre", target[:-4]) if target.endswith("_pre") else ("post", target[:-5])
            env = self._run(block, syn, weight, pre, post, step)
            neurons = pre if side == "pre" else post
            index = self._index(side, neurons[var].device)
            values = _full(env["_synaptic_var"], neurons[var].new_empty(neurons[var].shape[0], len(index)))
            neurons[var] = torch.zeros_like(neurons[var]).index_add(1, index, values)

    def integrate(self, syn, weight, pre, post, step) -> None:
        """The clock-driven equations, one step."""
        if self._blocks["integrate"] is not None:
            self._run(self._blocks["integrate"], syn, weight, pre, post, step)

    def on_pre(self, syn, weight, pre, post, step, spikes: torch.Tensor, is_open=(None, None)) -> None:
        """The ``on_pre`` statements of the synapses whose presynaptic spike
        (``spikes`` (batch, n_pre), after the delay) arrives now. ``is_open``:
        the pre- and postsynaptic neurons' ``not_refractory`` (batch, n), or
        None where they have no refractoriness."""
        self._pathway("on_pre", syn, weight, pre, post, step, spikes, "pre", is_open)

    def on_post(self, syn, weight, pre, post, step, spikes: torch.Tensor, is_open=(None, None)) -> None:
        """The ``on_post`` statements of the synapses whose target spiked (``spikes`` (batch, n_post))."""
        self._pathway("on_post", syn, weight, pre, post, step, spikes, "post", is_open)

    def learned_weight(self, syn) -> torch.Tensor | None:
        """The weights (n_synapses,) of the first copy, where the model changes them; else None."""
        return syn[self.model.weight][0] if self.learns else None

    def _pathway(self, name, syn, weight, pre, post, step, spikes: torch.Tensor, side: str, is_open) -> None:
        """Run a pathway's statements for the synapses that the ``side`` neurons' ``spikes`` (batch, n)
        reach, on those synapses' columns only (the others' values are not touched either way)."""
        block = self._blocks[name]
        if block is None:
            return
        columns = self._reached(side, spikes)
        if len(columns) == 0:
            return
        one_copy = len(spikes) == 1  # then a spike reached every one of these synapses: the writes need no mask
        arrived = spikes[:, self._index(side, spikes.device)[columns]] if name == "on_pre" or not one_copy else None
        self._run(block, syn, weight, pre, post, step, None if one_copy else arrived > 0,
                  arrived if name == "on_pre" else None, is_open, columns)

    def _reached(self, side: str, spikes: torch.Tensor) -> torch.Tensor:
        """The synapses (sorted) of the ``side`` neurons that spike in any copy. On the CPU numpy does
        it (a step has few spikes, and numpy's small operations cost a fraction of torch's)."""
        if spikes.device.type == "cpu":
            return torch.from_numpy(_synapses_of(np.flatnonzero(spikes.detach().numpy().any(0)),
                                                 *self._of_neuron_np[side], np))
        fired = spikes.detach().any(0).nonzero().squeeze(1)
        order, starts = self._of_neuron[side]
        if order.device != spikes.device:
            order, starts = self._of_neuron[side] = order.to(spikes.device), starts.to(spikes.device)
        return _synapses_of(fired, order, starts, torch)

    def _index(self, side: str, device) -> torch.Tensor:
        """Each synapse's pre- or postsynaptic neuron (n_synapses,), on ``device``."""
        index = self._indices[side]
        if index.device != device:
            index = self._indices[side] = index.to(device)
        return index

    def _run(self, block, syn, weight, pre, post, step, active=None, spikes=None, is_open=(None, None),
             columns=None) -> dict:
        """Run a compiled block on the synapses ``columns`` (None: all); the synapses' and the neurons'
        variables it writes go back to ``syn``, ``pre`` and ``post``."""
        device = weight.device
        pre_idx, post_idx = self._index("pre", device), self._index("post", device)
        given = syn if self.learns else {**syn, self.model.weight: weight}
        sliced = given if columns is None else {k: v[..., columns] for k, v in given.items()}
        env_syn = dict(sliced)
        if columns is not None:
            pre_idx, post_idx = pre_idx[columns], post_idx[columns]
        env_post = dict(post)
        env_pre = env_post if pre is post else dict(pre)  # (a recurrent projection: one group, as in Brian2)
        for neurons, not_refractory in ((env_pre, is_open[0]), (env_post, is_open[1])):
            if not_refractory is not None:
                neurons["not_refractory"] = not_refractory
        env = {**self._scalars.values(self._keys[block], step), "_syn": env_syn, "_pre": env_pre,
               "_post": env_post, "_pre_idx": pre_idx, "_post_idx": post_idx, "_active": active, "_spk": spikes}
        in_place = columns is None and block.in_place_code is not None and not torch.is_grad_enabled()
        exec(block.in_place_code if in_place else block.code, self._globals, env)
        for k in syn:  # (only the variables the block wrote)
            if env_syn[k] is not sliced[k]:
                if columns is None:
                    syn[k] = env_syn[k]
                elif torch.is_grad_enabled():
                    syn[k] = syn[k].index_copy(1, columns, env_syn[k])
                else:  # the state's own tensors (TorchState.copy clones them): no copy of every synapse
                    syn[k].index_copy_(1, columns, env_syn[k])
        for neurons, written in ((pre, env_pre), (post, env_post)):
            neurons.update((k, written[k]) for k in neurons)
        return env


def _synapses_of(fired, order, starts, xp):
    """The synapses of the neurons ``fired``, sorted: ``order`` lists the synapses neuron by neuron, neuron
    k's from ``starts[k]`` to ``starts[k + 1]``. ``xp``: numpy (arrays) or torch (tensors)."""
    if len(fired) <= 1:  # (the common cases: no neuron, or one neuron's synapses, already in order)
        return order[:0] if len(fired) == 0 else order[int(starts[fired[0]]):int(starts[fired[0] + 1])]
    first, counts = starts[fired], starts[fired + 1] - starts[fired]
    offsets = xp.cumsum(counts, 0) - counts
    if xp is np:
        within = np.arange(counts.sum()) - np.repeat(offsets, counts)
        return np.sort(order[np.repeat(first, counts) + within])
    within = torch.arange(int(counts.sum()), device=order.device) - torch.repeat_interleave(offsets, counts)
    return order[torch.repeat_interleave(first, counts) + within].sort().values


def _capture(brian2_backend, network, proj):
    """The blocks Brian2's numpy code generator writes for a SynapseModel
    projection ((template, code-object name) -> (scalar lines, vector
    lines)) and the Brian2 names of its synapses and of its pre- and
    postsynaptic groups (None for an input, which has no variables)."""
    import brian2 as b2

    dt = network.dt * b2.second
    recorded = {}
    order = list(network.projections).index(proj.name)
    with brian2_backend._translated_errors(network, f"projection {proj.name!r}"):
        post = brian2_backend._neuron_group(network, network.populations[proj.post], dt)
        if proj.pre == proj.post:
            pre = post
        elif proj.pre in network.populations:
            pre = brian2_backend._neuron_group(network, network.populations[proj.pre], dt)
        else:
            pre = b2.SpikeGeneratorGroup(network.size(proj.pre), [], [] * b2.second, dt=dt,
                                         name=f"neuroai_input_{proj.pre}")
        synapses = brian2_backend._synapse_model(proj, pre, post, dt, f"neuroai_{order:05d}_{proj.name}",
                                                 codeobj_class=recording_codeobject(recorded, _TEMPLATES))
        for group in {id(pre): pre, id(post): post}.values():
            group._network = "neuroai torch backend"
        prepare(synapses)
    names = {"synapses": synapses.name, "post": post.name,
             "pre": pre.name if proj.pre in network.populations else None}
    return recorded, names

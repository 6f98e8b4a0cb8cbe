"""A LIF population's whole run as one autograd operation, for layer-by-layer training in float32.

:class:`LIFRun` steps a population of plain LIF neurons (no refractory
period, no synaptic currents, no adaptive threshold) through all the steps
of a call at once, given the input each step delivers: forward without
recording a graph (in place, on one buffer), backward through time by the
chain rule written out, step by step. This is what SpikingJelly's multi-step
neurons do, and it spares autograd's bookkeeping for every operation of
every step. The arithmetic per step is :class:`~.torch_neurons.LIFStep`'s,
so the spikes are the ones the step-by-step graph computes; the gradients
are its gradients up to the order of float additions.

Where the gradient itself must be differentiated (``create_graph=True``, as
for Hessian-vector products) or is batched by ``vmap`` (``is_grads_batched``),
the backward replays the steps with autograd and differentiates that, so
second derivatives are exact as well.
"""
from __future__ import annotations

import torch

from .torch_neurons import LIFStep
from .torch_surrogates import Surrogate, _transforming


def runs_fused(step, spike_fn, dtype: torch.dtype) -> bool:
    """Whether a population with ``step`` runs as one :class:`LIFRun`: a plain LIF (no refractory period,
    currents, conductances or adaptive threshold), a surrogate of :mod:`.torch_surrogates`, not float64 (whose
    arithmetic is Brian2's, step by step) and no ``torch.func`` transform active."""
    return (type(step) is LIFStep and not step.ref_steps and not step.currents and not step.conductances
            and not step.adaptive and isinstance(spike_fn, Surrogate) and dtype != torch.float64
            and not _transforming())


def _steps_with_autograd(step: LIFStep, spike_fn, drive, v):
    """The run written step by step with differentiable operations: (spikes (T, batch, n), last v)."""
    out = []
    for current in drive.unbind(0):
        x, _, spikes, _ = step.integrate({"v": v}, {}, None, 0, spike_fn)
        v = step.reset({"v": x["v"] + current}, spikes)["v"]
        out.append(spikes)
    return torch.stack(out), v


class LIFRun(torch.autograd.Function):
    """``(spikes (T, batch, n), v after the last step)`` of LIF neurons starting at ``v`` (batch, n), fed
    ``drive`` (T, batch, n): the input each step delivers after its threshold test. ``e_m``: the decay
    exp(-dt/tau_m), a float or a 0-d tensor (a learned time constant)."""

    @staticmethod
    def forward(ctx, drive, v, e_m, step: LIFStep, spike_fn: Surrogate):
        """The T steps in place, without a graph; saves the charged potential before each threshold test, from
        which the backward pass recomputes everything else it reads."""
        ctx.step, ctx.spike_fn = step, spike_fn
        learned = isinstance(e_m, torch.Tensor)
        a = step.a   # (a tensor where the decay is learned and the resting value is not 0)
        start, v = v, v.detach().clone()
        # (two (T, batch, n) buffers in all: every fresh one costs page faults that cost as much as the loop)
        charged = torch.empty_like(drive)   # v after the decay, at each threshold test
        spikes = torch.empty_like(drive)
        jump = step.v_th - step.v_reset
        for t in range(len(drive)):
            u = torch.mul(v, e_m, out=charged[t])
            if step.add_a:
                u.add_(a)
            s = torch.gt(u, step.v_th, out=spikes[t])   # (u - v_th > 0 exactly when u > v_th, in any arithmetic)
            torch.add(u, drive[t], out=v)
            if step.subtract:
                v.sub_(s if jump == 1.0 else s * jump)
            else:   # v (1 - s) + s v_reset, s 0 or 1: v - v s is v or 0
                v.addcmul_(v, s, value=-1.0)
                if step.v_reset != 0.0:
                    v.add_(s, alpha=step.v_reset)
        ctx.save_for_backward(drive, start, spikes, charged, e_m if learned else None)
        ctx.e_m, ctx.learned = (None if learned else e_m), learned
        return spikes, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v):
        """Backpropagation through time written out, or a replay of the steps with autograd where the gradient
        is itself differentiated or batched."""
        drive, start, spikes, charged, e_m_tensor = ctx.saved_tensors
        step, spike_fn = ctx.step, ctx.spike_fn
        e_m = e_m_tensor if ctx.learned else ctx.e_m
        if torch.is_grad_enabled() or _transforming() or _batched(grad_spikes):
            # the gradient will be differentiated, or batched by vmap (is_grads_batched): replay the steps with
            # autograd, on the saved inputs themselves, so that the gradient's own graph reaches their origins
            inputs = [x for x in (drive, start, e_m_tensor) if x is not None and x.requires_grad]
            differentiate = torch.is_grad_enabled()
            with torch.enable_grad():
                if ctx.learned:
                    step.learn_decay(e_m_tensor)
                out = _steps_with_autograd(step, spike_fn, drive, start)
                found = torch.autograd.grad(out, inputs, (grad_spikes, grad_v), create_graph=differentiate,
                                            allow_unused=True) if inputs else ()
            grads = dict(zip(map(id, inputs), found))
            return (grads.get(id(drive)), grads.get(id(start)), grads.get(id(e_m_tensor)) if ctx.learned else None,
                    None, None)
        # (per step: a step's tensors stay in the cache, where whole (T, batch, n) ones would not)
        jump = step.v_th - step.v_reset
        grad_drive = torch.empty_like(drive)
        g_v = grad_v
        g_us = []
        for t in range(len(drive) - 1, -1, -1):
            if step.subtract:   # v = before - jump s
                grad_drive[t] = g_v
                g_s = torch.add(grad_spikes[t], g_v, alpha=-jump)
            else:   # v = before (1 - s) + s v_reset: d/d before = 1 - s, d/ds = v_reset - before
                torch.addcmul(g_v, g_v, spikes[t], value=-1.0, out=grad_drive[t])
                before = charged[t] + drive[t]
                g_s = (torch.addcmul(grad_spikes[t], g_v, before, value=-1.0) if step.v_reset == 0.0
                       else grad_spikes[t] + g_v * (step.v_reset - before))
            g_u = torch.addcmul(grad_drive[t], g_s, spike_fn.derivative(charged[t] - step.v_th))
            if ctx.learned:
                g_us.append(g_u)
            g_v = g_u * e_m
        g_e_m = None
        if ctx.learned:   # d/d e_m of a + e_m v with a = drive (1 - e_m): sum over steps of g_u (v_prev - drive)
            previous = torch.cat([start.detach().unsqueeze(0),
                                  _reset(step, charged[:-1], spikes[:-1], drive, start, e_m, jump)])
            if step.add_a:
                previous = previous - step.drive
            g_e_m = (torch.stack(g_us[::-1]) * previous).sum()
        return grad_drive, g_v, g_e_m, None, None


def _batched(x: torch.Tensor) -> bool:
    """Whether ``x`` is batched by a vmap (``autograd.grad(..., is_grads_batched=True)`` runs backward under
    torch's own vmap, which in-place steps cannot take); True where torch no longer says."""
    try:
        keys = str(torch._C._dispatch_keys(x))
    except (AttributeError, RuntimeError):
        return True
    return "Batched" in keys


def _reset(step: LIFStep, charged, spikes, drive, start, e_m, jump: float) -> torch.Tensor:
    """v at the start of steps 1..T-1 (after each reset), (T - 1, batch, n), from the ``charged`` potential of
    steps 0..T-2 and their input (reset to a value) or, for a reset by subtraction, by replaying the decay from
    ``start``."""
    if not step.subtract:
        before = charged + drive[:len(charged)]
        return before * (1.0 - spikes) + (spikes * step.v_reset if step.v_reset != 0.0 else 0.0)
    out, v = [], start.detach()
    for t in range(len(spikes)):
        v = v * e_m
        if step.add_a:
            v = v + step.a
        v = v + drive[t] - (spikes[t] if jump == 1.0 else spikes[t] * jump)
        out.append(v)
    return torch.stack(out) if out else start.new_zeros((0,) + start.shape)

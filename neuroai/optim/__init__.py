"""The optimizer suite.

:func:`make_optimizer` names the whole family (:data:`OPTIMIZERS`): every
method ``torch.optim`` has (GD, SGD, momentum, Nesterov, AdaGrad, RMSProp,
AdaDelta, Adam, AdamW, NAdam, RAdam, Adamax, Adafactor, Rprop, ASGD, Muon,
SparseAdam, L-BFGS), wrapped, and those it lacks, each a
``torch.optim.Optimizer`` with param_groups, ``state_dict`` and a closure
where the method re-evaluates the loss:

* :class:`LineSearchGD`: gradient descent with an Armijo, Goldstein or
  Armijo full-relaxation backtracking line search;
* :class:`Newton` (exact Hessian, damped) and :class:`NewtonCG`
  (Hessian-free, conjugate gradients on Hessian-vector products);
* :class:`BFGS` (dense inverse Hessian);
* :class:`SVRG` (variance-reduced SGD for finite sums);
* :class:`Langevin` (SGLD, with a temperature);
* :class:`SAM` (sharpness-aware minimization, and ASAM) around any base optimizer.

The registry is open: :func:`make_optimizer` takes any ``Optimizer``
subclass too, :func:`register_optimizer` names one, and pytorch-optimizer's
methods are reached by name when it is installed.

How a loop drives ``step`` (a closure, the gradient first, a graph for
second-order gradients) is one documented protocol,
:mod:`neuroai.optim.protocol`: :func:`take_step` carries it out (the
:class:`~neuroai.training.Trainer` steps through it), and
:func:`full_batch_closure` builds a closure over a whole data set.
"""
from .bfgs import BFGS
from .closures import full_batch_closure
from .langevin import Langevin
from .line_search import LineSearchGD, LineSearchResult, backtracking
from .newton import Newton, NewtonCG
from .protocol import StepProtocol, step_protocol, take_step
from .registry import ALIASES, OPTIMIZERS, OptimizerSpec, make_optimizer, register_optimizer
from .sam import SAM
from .svrg import SVRG

__all__ = ["ALIASES", "BFGS", "Langevin", "LineSearchGD", "LineSearchResult", "Newton", "NewtonCG", "OPTIMIZERS",
           "OptimizerSpec", "SAM", "SVRG", "StepProtocol", "backtracking", "full_batch_closure", "make_optimizer",
           "register_optimizer", "step_protocol", "take_step"]

"""The optimizer suite.

:func:`make_optimizer` names the whole family (:data:`OPTIMIZERS`): the
methods ``torch.optim`` has (GD, SGD, momentum, Nesterov, AdaGrad, RMSProp,
AdaDelta, Adam, AdamW, L-BFGS), wrapped, and those it lacks, each a
``torch.optim.Optimizer`` with param_groups, ``state_dict`` and a closure
where the method re-evaluates the loss:

* :class:`LineSearchGD`: gradient descent with an Armijo or Goldstein
  backtracking line search;
* :class:`Newton` (exact Hessian, damped) and :class:`NewtonCG`
  (Hessian-free, conjugate gradients on Hessian-vector products);
* :class:`BFGS` (dense inverse Hessian);
* :class:`SVRG` (variance-reduced SGD for finite sums);
* :class:`Langevin` (SGLD, with a temperature).

Optimizers with ``requires_closure`` need ``step(closure)``; those with
``create_graph`` need the closure to call ``loss.backward(create_graph=True)``
(:class:`~neuroai.training.Trainer` handles both;
:func:`full_batch_closure` builds a closure over a whole data set).
"""
from .bfgs import BFGS
from .closures import full_batch_closure
from .langevin import Langevin
from .line_search import LineSearchGD, LineSearchResult, backtracking
from .newton import Newton, NewtonCG
from .registry import OPTIMIZERS, OptimizerSpec, make_optimizer
from .svrg import SVRG

__all__ = ["BFGS", "Langevin", "LineSearchGD", "LineSearchResult", "Newton", "NewtonCG", "OPTIMIZERS",
           "OptimizerSpec", "SVRG", "backtracking", "full_batch_closure", "make_optimizer"]

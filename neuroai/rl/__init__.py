"""Deep reinforcement learning on gymnasium environments (extra ``neuroai[rl]``).

Each agent is one module, readable top to bottom, with its hyper-parameters
in one dataclass whose defaults reproduce a published CartPole result:

* :mod:`.dqn`: DQN with experience replay and a target network, Double-DQN
  and dueling options (:func:`train_dqn`, :class:`DQNConfig`);
* :mod:`.ppo`: PPO with GAE on vectorized environments (:func:`train_ppo`,
  :class:`PPOConfig`), for any :class:`ActorCritic` policy.

Shared pieces: :mod:`.returns` (discounted returns, GAE), :mod:`.buffers`
(replay), :mod:`.envs` (seeded vector environments, CartPole with hidden
velocities), :mod:`.common` (:class:`TrainResult`, greedy :func:`evaluate`).
"""
from .buffers import ReplayBuffer, Transitions
from .common import SOLVED, TrainResult, evaluate
from .dqn import DQNConfig, QNetwork, train_dqn
from .ppo import ActorCritic, MLPActorCritic, PPOConfig, train_ppo
from .returns import discounted_returns, gae

__all__ = ["ActorCritic", "DQNConfig", "MLPActorCritic", "PPOConfig", "QNetwork", "ReplayBuffer", "SOLVED",
           "TrainResult", "Transitions", "discounted_returns", "evaluate", "gae", "train_dqn", "train_ppo"]

"""Deep reinforcement learning on gymnasium environments (extra ``neuroai[rl]``).

Each agent is one module, readable top to bottom, with its hyper-parameters
in one dataclass whose defaults reproduce a published CartPole result:

* :mod:`.dqn`: DQN with experience replay and a target network, Double-DQN
  and dueling options (:func:`train_dqn`, :class:`DQNConfig`);
* :mod:`.ppo`: PPO with GAE on vectorized environments (:func:`train_ppo`,
  :class:`PPOConfig`), for any :class:`ActorCritic` policy;
* :mod:`.a2c`: synchronous advantage actor-critic (:func:`train_a2c`, :class:`A2CConfig`);
* :mod:`.reinforce`: REINFORCE with a value baseline (:func:`train_reinforce`,
  :class:`ReinforceConfig`).

Shared pieces: :mod:`.returns` (discounted returns, GAE), :mod:`.rollout`
(on-policy rollouts of vector environments), :mod:`.buffers`
(replay), :mod:`.envs` (seeded vector environments, CartPole with hidden
velocities), :mod:`.common` (:class:`TrainResult`, greedy :func:`evaluate`).
"""
from .a2c import A2CConfig, train_a2c
from .buffers import ReplayBuffer, Transitions
from .common import SOLVED, TrainResult, evaluate
from .dqn import DQNConfig, QNetwork, train_dqn
from .policies import ActorCritic, LSTMActorCritic, MLPActorCritic, SpikingActorCritic
from .ppo import PPOConfig, train_ppo
from .reinforce import ReinforceConfig, train_reinforce
from .returns import discounted_returns, gae

__all__ = ["A2CConfig", "ActorCritic", "LSTMActorCritic", "SpikingActorCritic", "DQNConfig", "ReinforceConfig", "train_a2c", "train_reinforce", "MLPActorCritic", "PPOConfig", "QNetwork", "ReplayBuffer", "SOLVED",
           "TrainResult", "Transitions", "discounted_returns", "evaluate", "gae", "train_dqn", "train_ppo"]

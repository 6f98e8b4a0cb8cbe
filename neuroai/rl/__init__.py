"""Deep reinforcement learning on gymnasium environments (extra ``neuroai[rl]``).

Each agent is one module, readable top to bottom, with its hyper-parameters
in one dataclass whose defaults reproduce a published CartPole result:

* :mod:`.dqn`: DQN with experience replay and a target network, Double-DQN
  and dueling options (:func:`train_dqn`, :class:`DQNConfig`);
* :mod:`.ppo`: PPO with GAE on vectorized environments (:func:`train_ppo`,
  :class:`PPOConfig`), for any :class:`ActorCritic` policy (:class:`Greedy`: its greedy actions);
* :mod:`.a2c`: synchronous advantage actor-critic (:func:`train_a2c`, :class:`A2CConfig`);
* :mod:`.reinforce`: REINFORCE with a value baseline (:func:`train_reinforce`,
  :class:`ReinforceConfig`);
* :mod:`.sac`: soft actor-critic for continuous actions (:func:`train_sac`, :class:`SACConfig`);
* :mod:`.rstdp`: a spiking circuit (a neuroai Network, on Brian2 or torch)
  learning a cue-action task by reward-modulated STDP (:func:`train_rstdp`).

Every trainer returns a :class:`TrainResult` whose ``agent`` (:mod:`.agent`) predicts actions as
Stable-Baselines3's ``predict`` does, saves to a weights-only file and comes back with :func:`load_agent`.

Shared pieces: :mod:`.returns` (discounted returns, GAE), :mod:`.rollout`
(on-policy rollouts of vector environments), :mod:`.buffers`
(replay), :mod:`.envs` (seeded vector environments, CartPole with hidden
velocities, their whole state saved and restored), :mod:`.common` (:class:`TrainResult`, greedy
:func:`evaluate`, :func:`frame_strip`, checkpoints).

DQN, PPO and A2C checkpoint with ``checkpoint=``: a run killed at any moment
(even by SIGKILL) and started again with the same arguments resumes from the
file and ends bit for bit as the uninterrupted run, the classic-control
environments' episodes in progress included.
"""
from .a2c import A2CConfig, train_a2c
from .agent import Agent, load_agent
from .buffers import ReplayBuffer, Transitions
from .common import SOLVED, TrainResult, evaluate, frame_strip
from .dqn import DQNConfig, QNetwork, train_dqn
from .logs import CSVLog, RunLog, TensorBoardLog
from .normalization import RunningNormalizer
from .policies import (ActorCritic, GaussianActorCritic, GaussianHead, Greedy, LSTMActorCritic, MLPActorCritic,
                       SpikingActorCritic, SpikingGaussianActorCritic)
from .ppo import PPOConfig, train_ppo
from .reinforce import ReinforceConfig, train_reinforce
from .returns import discounted_returns, gae
from .rstdp import RSTDPConfig, RSTDPResult, evaluate_rstdp, train_rstdp
from .sac import SACConfig, SquashedGaussianActor, TwinCritic, train_sac

__all__ = ["A2CConfig", "ActorCritic", "Agent", "CSVLog", "discounted_returns", "DQNConfig", "evaluate",
           "evaluate_rstdp", "frame_strip", "gae", "GaussianActorCritic", "GaussianHead", "Greedy", "load_agent",
           "LSTMActorCritic", "MLPActorCritic", "PPOConfig", "QNetwork", "ReinforceConfig", "ReplayBuffer",
           "RSTDPConfig", "RSTDPResult", "RunLog", "RunningNormalizer", "SACConfig", "SOLVED", "SpikingActorCritic",
           "SpikingGaussianActorCritic", "SquashedGaussianActor", "TensorBoardLog", "train_a2c", "train_dqn",
           "train_ppo", "train_reinforce", "train_rstdp", "train_sac", "TrainResult", "Transitions", "TwinCritic"]

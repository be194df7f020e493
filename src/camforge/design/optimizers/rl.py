"""Reinforcement learning: a Gymnasium environment that edits a camera design, and PPO.

:class:`DesignEnv` (passes :func:`gymnasium.utils.env_checker.check_env`)
    An episode starts from a random feasible design — or, when a ``start`` function is given,
    from the design it returns (the optimizer starts half the episodes from its current Pareto
    set, reusing their evaluations, so the policy learns to improve good designs rather than
    random ones) — and a random preference over the objectives (weights ``w`` drawn from a
    flat Dirichlet distribution). Each step moves the
    design in the scaled unit cube of the space (choices by bins): ``x' = clip(x + step · a)``
    for an action ``a ∈ [−1, 1]^d``. A move that breaks an analytic constraint is refused
    (the design stays; reward −``refusal_penalty``; nothing is evaluated). Otherwise the new
    design is evaluated and the reward is the change of its utility, the augmented
    Chebyshev scalarisation of the normalised objectives
    ``U = m · min_i w_i u_i + ρ Σ_i w_i u_i − penalty · Σ_j max(0, g_j)``
    (:class:`~camforge.design.problem.ObjectiveScaler` units; ``g`` the scaled outcome
    constraint violations), so an episode's return is the utility gained from its start.
    Observation: the design's encoding, its normalised objectives and violation, the
    weights and the time left.
:class:`RLOptimizer` (method ``rl``)
    Scales the objectives on ``n_warmup`` Sobol designs, then trains PPO (Schulman et al.
    2017; Stable-Baselines3) on the environment until the evaluation budget is spent; every
    evaluated design is a trial of the study. ``log["episodes"]`` is the learning curve
    (evaluations so far, episode return). A policy checkpoint (``checkpoint=PATH``) lets a
    resumed study continue the same policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from camforge.design.optimizers.base import Optimizer, Proposal
from camforge.design.problem import Evaluation, ObjectiveScaler, Problem


def _gym():
    try:
        import gymnasium
    except ImportError:
        from camforge.errors import DependencyError

        raise DependencyError("the rl method needs Gymnasium: pip install gymnasium stable-baselines3") from None
    return gymnasium


class DesignEnv(_gym().Env):
    """Edit a design step by step (see the module docstring).

    Args:
        problem: the design problem.
        scaler: objective normalisation (fitted on earlier evaluations).
        evaluate: ``params → Evaluation`` (default ``problem.evaluate``); ``None`` results
            (rejected) are refused moves.
        episode_length: steps per episode.
        step_size: largest move per step, as a fraction of each parameter's (scaled) range.
        rho, penalty, refusal_penalty: utility shape (see the module docstring).
    """

    metadata = {"render_modes": []}

    def __init__(self, problem: Problem, scaler: ObjectiveScaler,
                 evaluate: Callable[[dict], Evaluation | None] | None = None, *, episode_length: int = 8,
                 step_size: float = 0.25, rho: float = 0.1, penalty: float = 1.0, refusal_penalty: float = 0.05,
                 start: Callable[[np.random.Generator], tuple[dict, Evaluation] | None] | None = None):
        super().__init__()
        self.start = start
        gym = _gym()
        self.problem = problem
        self.space = problem.space
        self.scaler = scaler
        self._evaluate = evaluate or problem.evaluate
        self.T = int(episode_length)
        self.step_size = float(step_size)
        self.rho, self.penalty, self.refusal_penalty = float(rho), float(penalty), float(refusal_penalty)
        self.d = self.space.dim(onehot=False)
        self.m = problem.n_objectives
        self.outcome_idx = [i for i, k in enumerate(problem.constraints) if k in self.space.outcome_constraints]
        n_obs = self.d + self.m + 1 + self.m + 1
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (n_obs,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.d,), dtype=np.float32)
        self.episode_returns: list[float] = []
        self._ret = 0.0

    # ------------------------------------------------------------------ helpers
    def utility(self, ev: Evaluation | None, w: np.ndarray) -> tuple[float, np.ndarray, float]:
        """(utility, normalised objectives, scaled outcome-constraint violation) of an evaluation."""
        if ev is None or not ev.ok or not all(math.isfinite(v) for v in ev.objectives):
            return -10.0, np.full(self.m, -3.0), 10.0
        u = np.clip(self.scaler.transform(ev.objectives), -5.0, 5.0)
        g = self.scaler.violations(ev.violations)[self.outcome_idx] if self.outcome_idx else np.zeros(0)
        viol = float(np.clip(np.clip(g, 0, None).sum(), 0, 10.0))
        util = self.m * float(np.min(w * u)) + self.rho * float(np.sum(w * u)) - self.penalty * viol
        return util, u, viol

    def _obs(self) -> np.ndarray:
        o = np.concatenate([self.x, self.u, [self.viol], self.w, [1.0 - self.t / self.T]])
        return np.clip(o, -10.0, 10.0).astype(np.float32)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        known = self.start(rng) if self.start is not None else None
        if known is not None:  # an already evaluated design (e.g. from the current Pareto set)
            p, ev = known
        else:
            for _ in range(10_000):
                x = rng.random(self.d)
                p = self.space.decode(x, onehot=False)
                if self.space.is_feasible(p):
                    break
            ev = None
        self.x = self.space.encode(p, onehot=False)
        self.params = p
        self.w = rng.dirichlet(np.ones(self.m))
        self.t = 0
        if ev is None:
            ev = self._evaluate(p)
        self.util, self.u, self.viol = self.utility(ev, self.w)
        self._ret = 0.0
        return self._obs(), {"params": dict(p)}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(self.d), -1.0, 1.0)
        x_new = np.clip(self.x + self.step_size * a, 0.0, 1.0)
        p = self.space.decode(x_new, onehot=False)
        self.t += 1
        info = {"params": p, "evaluated": False}
        if not self.space.is_feasible(p):
            reward = -self.refusal_penalty
        else:
            ev = self._evaluate(p)
            if ev is None:
                reward = -self.refusal_penalty
            else:
                util, u, viol = self.utility(ev, self.w)
                reward = util - self.util
                self.util, self.u, self.viol = util, u, viol
                self.x, self.params = x_new, p
                info["evaluated"] = True
        self._ret += reward
        truncated = self.t >= self.T
        if truncated:
            self.episode_returns.append(self._ret)
        return self._obs(), float(reward), False, truncated, info


class RLOptimizer(Optimizer):
    """PPO on :class:`DesignEnv` (see the module docstring)."""

    name = "rl"

    def __init__(self, seed: int = 0, batch_size: int | None = None, n_warmup: int = 16, episode_length: int = 8,
                 step_size: float = 0.25, n_steps: int = 64, learning_rate: float = 1e-3, n_epochs: int = 10,
                 gamma: float = 0.95, checkpoint: str | None = None, archive_start: float = 0.5):
        super().__init__(seed, 1)
        self.archive_start = float(archive_start)
        self.n_warmup = int(n_warmup)
        self.episode_length = int(episode_length)
        self.step_size = float(step_size)
        self.n_steps = int(n_steps)
        self.learning_rate = float(learning_rate)
        self.n_epochs = int(n_epochs)
        self.gamma = float(gamma)
        self.checkpoint = checkpoint
        self.model = None
        self.env: DesignEnv | None = None

    def setup(self, problem, study, history) -> None:
        super().setup(problem, study, history)
        self.history = [e for e in history if e is not None]

    def ask(self, n: int) -> list[Proposal]:  # the environment drives RL; ask is only used for warm-up
        return [Proposal(next(self._warm)) for _ in range(n)]

    def run(self, evaluate, budget: int, progress=None) -> None:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback

        used = [0]
        self._warm = self.problem.space.stream(seed=self.seed, method="sobol")
        for _ in range(len(self.history)):
            next(self._warm)
        evaluated: list[Evaluation] = list(self.history)
        # warm-up: scale the objectives on Sobol designs
        need = max(0, self.n_warmup - len([e for e in evaluated if e.ok]))
        while need > 0 and used[0] < budget:
            k = min(need, budget - used[0])
            evs = evaluate(self.ask(k))
            got = [e for e in evs if e is not None]
            used[0] += len(got)
            evaluated += got
            need -= len(got)
            if progress is not None:
                progress(used[0], budget)
        if used[0] >= budget:
            return
        scaler = ObjectiveScaler(self.problem, evaluated)
        log_eps = self.log.setdefault("episodes", [])

        def eval_one(params: dict) -> Evaluation | None:
            if used[0] >= budget:
                return None
            ev = evaluate([Proposal(params)])[0]
            if ev is not None:
                used[0] += 1
                evaluated.append(ev)
                if progress is not None:
                    progress(used[0], budget)
            return ev

        def start(rng) -> tuple[dict, Evaluation] | None:
            """With probability ``archive_start``, an episode starts from a design of the current
            Pareto set (feasible, non-dominated; its evaluation is reused), else at random."""
            if rng.random() >= self.archive_start:
                return None
            from camforge.design.pareto import pareto_mask

            ok = [e for e in evaluated if e.ok and e.feasible and all(math.isfinite(v) for v in e.objectives)]
            if not ok:
                return None
            front = np.flatnonzero(pareto_mask(np.array([e.objectives for e in ok]), self.problem.directions))
            e = ok[int(front[rng.integers(len(front))])]
            return e.params, e

        env = DesignEnv(self.problem, scaler, eval_one, episode_length=self.episode_length, step_size=self.step_size,
                        start=start if self.archive_start > 0 else None)
        self.env = env

        class Stop(BaseCallback):
            def _on_step(self) -> bool:
                n = len(env.episode_returns)
                while len(log_eps) < n:
                    log_eps.append([int(used[0]), float(env.episode_returns[len(log_eps)])])
                return used[0] < budget

        ckpt = Path(self.checkpoint) if self.checkpoint else None
        if ckpt is not None and ckpt.exists():
            self.model = PPO.load(str(ckpt), env=env, device="cpu")
        else:
            self.model = PPO("MlpPolicy", env, n_steps=self.n_steps, batch_size=min(32, self.n_steps),
                             n_epochs=self.n_epochs, learning_rate=self.learning_rate, gamma=self.gamma,
                             gae_lambda=0.9, ent_coef=0.0, seed=self.seed, device="cpu",
                             policy_kwargs={"net_arch": [64, 64]})
        self.model.learn(total_timesteps=10**9, callback=Stop(), reset_num_timesteps=False)
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            self.model.save(str(ckpt))

    def rollout(self, n_episodes: int, *, seed: int = 0, evaluate: Callable[[dict], Evaluation] | None = None,
                deterministic: bool = True) -> list[Evaluation]:
        """Run the trained policy for ``n_episodes`` (new evaluations, not in the study)."""
        if self.model is None or self.env is None:
            from camforge.errors import ConfigError

            raise ConfigError("the RL policy is not trained yet: run a study first")
        out: list[Evaluation] = []

        def ev(params):
            e = (evaluate or self.problem.evaluate)(params)
            out.append(e)
            return e

        env = DesignEnv(self.problem, self.env.scaler, ev, episode_length=self.episode_length,
                        step_size=self.step_size)
        for k in range(n_episodes):
            obs, _ = env.reset(seed=seed + k)
            done = False
            while not done:
                act, _ = self.model.predict(obs, deterministic=deterministic)
                obs, _, term, trunc, _ = env.step(act)
                done = term or trunc
        return out


__all__ = ["DesignEnv", "RLOptimizer"]

"""Optimizers behind the ask/tell interface, studies in Optuna storage, resume, executors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.design import Problem, make_optimizer, run_study
from camforge.errors import ConfigError

PROBLEM = "phone_main"


@pytest.fixture(scope="module")
def problem():
    return Problem(PROBLEM, "fast")


def _load(url, name):
    import optuna

    return optuna.load_study(study_name=name, storage=url)


@pytest.mark.parametrize("method, budget, options", [
    ("random", 6, {}),
    ("sobol", 6, {}),
    ("nsga2", 8, {"population_size": 4}),
    ("bo", 5, {"n_init": 4, "n_candidates": 64, "rounds": 1, "fit_maxiter": 50}),
    ("generative", 12, {"n_init": 8, "epochs": 40}),
])
def test_methods_fill_an_optuna_study(tmp_path, problem, method, budget, options):
    res = run_study(problem, method, budget, executor="serial", storage=tmp_path / "s.db", seed=1, options=options)
    assert len(res.evaluations) == budget
    assert all(e.ok for e in res.evaluations)
    sp = problem.space
    for e in res.evaluations:  # analytic constraints are never evaluated away
        assert sp.is_feasible(e.params)
    study = _load(res.storage, res.name)
    done = [t for t in study.trials if t.user_attrs.get("counted")]
    assert len(done) == budget
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    t = done[0]
    assert t.values == pytest.approx(list(res.evaluations[0].objectives))
    assert len(t.constraints) == 3 and t.params.keys() == sp.parameters.keys()
    assert t.user_attrs["evaluation"]["metrics"]["mtf50_corner_sagittal"] > 0


def test_bo_proposals_are_new_feasible_and_deterministic(problem):
    opts = {"n_init": 4, "n_candidates": 64, "rounds": 1, "fit_maxiter": 50}
    a = run_study(problem, "bo", 6, executor="serial", storage=":memory:", seed=3, options=opts)
    b = run_study(problem, "bo", 6, executor="serial", storage=":memory:", seed=3, options=opts)
    pa = [e.params for e in a.evaluations]
    assert pa == [e.params for e in b.evaluations]
    enc = np.array([problem.space.encode(p) for p in pa])
    assert len(np.unique(enc.round(9), axis=0)) == len(enc)


def test_resume_continues_to_the_budget(tmp_path, problem):
    import optuna

    db = tmp_path / "r.db"
    full = run_study(problem, "sobol", 9, executor="serial", storage=tmp_path / "full.db", seed=2)
    run_study(problem, "sobol", 5, executor="serial", storage=db, seed=2)
    # an interruption leaves a trial running: it is marked failed and not counted
    study = optuna.load_study(study_name=f"{PROBLEM}-sobol-s2", storage=f"sqlite:///{db}")
    study.ask()
    res = run_study(problem, "sobol", 9, executor="serial", storage=db, seed=2)
    assert len(res.evaluations) == 9
    assert [e.params for e in res.evaluations] == [e.params for e in full.evaluations]
    states = [t.state.name for t in _load(res.storage, res.name).trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 9
    # a stored study of the same name but another method or seed is refused
    with pytest.raises(ConfigError, match="was made with method"):
        run_study(problem, "random", 10, executor="serial", storage=db, study_name=res.name, seed=2)


def test_nsga2_rejects_analytically_infeasible_children_without_evaluating():
    space = {"name": "tight", "base_design": "phone_main_12mp",
             "fixed": {"dfov_deg": 79.0},
             "parameters": {"pixel_pitch_um": {"low": 0.8, "high": 2.4, "log": True},
                            "sensor_format": {"choices": ["1/2.55", "1/1.28"]}, "f_number": {"low": 1.4, "high": 2.8}},
             "objectives": [{"name": "mtf50_center", "direction": "maximize", "reference": 0.0},
                            {"name": "cost_usd", "direction": "minimize", "reference": 60.0}],
             "constraints": ["z_height_mm <= 8.0"]}
    res = run_study(space, "nsga2", 8, evaluator="fast", executor="serial", storage=":memory:",
                    options={"population_size": 4})
    assert len(res.evaluations) == 8 and all(Problem(space, "fast").space.is_feasible(e.params) for e in res.evaluations)


def test_unknown_method_option_and_budget():
    with pytest.raises(ConfigError, match="unknown optimization method"):
        make_optimizer("annealing")
    with pytest.raises(ConfigError, match="population_sise"):
        make_optimizer("nsga2", population_sise=4)
    with pytest.raises(ConfigError, match="budget"):
        run_study(PROBLEM, "random", 0, evaluator="fast")
    with pytest.raises(ConfigError, match="image-quality loss"):
        make_optimizer("gradient")


def test_rl_environment_passes_the_gymnasium_checker(problem):
    from gymnasium.utils.env_checker import check_env

    from camforge.design.optimizers.rl import DesignEnv
    from camforge.design.problem import ObjectiveScaler

    evs = [problem.evaluate(p) for p in problem.space.sample(6, seed=0)]
    env = DesignEnv(problem, ObjectiveScaler(problem, evs), episode_length=3)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    total = 0.0
    for _ in range(3):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        total += r
    assert trunc and env.episode_returns[-1] == pytest.approx(total)


def test_rl_environment_starts_from_a_given_evaluated_design(problem):
    """Archive starts: the episode begins at the given design, its evaluation is reused (no new
    evaluation), and the environment still passes the checker."""
    from gymnasium.utils.env_checker import check_env

    from camforge.design.optimizers.rl import DesignEnv
    from camforge.design.problem import ObjectiveScaler

    evs = [problem.evaluate(p) for p in problem.space.sample(6, seed=0)]
    calls = []

    def counting(p):
        calls.append(p)
        return problem.evaluate(p)

    known = evs[2]
    env = DesignEnv(problem, ObjectiveScaler(problem, evs), counting, episode_length=3,
                    start=lambda rng: (known.params, known))
    check_env(env, skip_render_check=True)
    calls.clear()
    obs, info = env.reset(seed=1)
    assert info["params"] == known.params and calls == []
    np.testing.assert_allclose(env.x, problem.space.encode(known.params, onehot=False))
    assert env.util == pytest.approx(env.utility(known, env.w)[0])


def test_rl_study_records_a_learning_curve(tmp_path, problem):
    res = run_study(problem, "rl", 24, executor="serial", storage=":memory:", seed=0,
                    options={"n_warmup": 4, "n_steps": 8, "episode_length": 4, "checkpoint": str(tmp_path / "p.zip")})
    assert len(res.evaluations) == 24
    eps = res.log["episodes"]
    assert len(eps) >= 2 and all(math.isfinite(r) for _, r in eps)
    assert (tmp_path / "p.zip").exists()


def test_conditional_vae_follows_its_condition(problem):
    """Train on designs whose objective is the pixel pitch itself: conditioning on a large
    (normalised) value must decode larger pitches than conditioning on a small one."""
    from camforge.design.optimizers.generative import ConditionalVAE

    sp = problem.space
    pts = sp.sample(300, seed=4)
    X = np.stack([sp.encode(p) for p in pts])
    pitch = np.array([p["pixel_pitch_um"] for p in pts])
    C = np.log(pitch)[:, None]
    vae = ConditionalVAE(sp, 1, seed=0)
    loss = vae.fit(X, C, epochs=150)
    assert loss[-1] < loss[0]
    lo = [sp.decode(x)["pixel_pitch_um"] for x in vae.decode(np.full((64, 1), np.log(0.8)))]
    hi = [sp.decode(x)["pixel_pitch_um"] for x in vae.decode(np.full((64, 1), np.log(2.2)))]
    assert np.median(hi) > 1.8 * np.median(lo)
    assert np.median(lo) < 1.1 and np.median(hi) > 1.7


def test_gradient_through_the_camera_matches_finite_differences_and_descends(tmp_path):
    from camforge.design.gradient import ImageLoss, run_gradient_study

    torch.manual_seed(0)
    loss = ImageLoss("examples/spaces/isp_tuning.yaml")
    phi = loss.initial_phi().requires_grad_(True)
    v = loss(phi)
    v.backward()
    eps = 1e-2
    with torch.no_grad():
        for i, p in enumerate(loss.params):
            if p.name not in ("isp.sharpen.amount", "defocus_um"):
                continue
            d = torch.zeros_like(phi)
            d[i] = eps
            fd = (float(loss(phi + d)) - float(loss(phi - d))) / (2 * eps)
            assert float(phi.grad[i]) == pytest.approx(fd, rel=0.08, abs=2e-4), p.name
    res, url, name = run_gradient_study("examples/spaces/isp_tuning.yaml", 5, storage=tmp_path / "g.db",
                                        out=tmp_path)
    assert len(res.losses) == 5 and min(res.losses) < 0.85 * res.losses[0]
    assert (tmp_path / "gradient.html").exists()
    study = _load(url, name)
    assert len(study.trials) == 5 and study.best_value == pytest.approx(min(res.losses))


def test_gradient_rejects_non_differentiable_parameters():
    from camforge.design.gradient import ImageLoss

    with pytest.raises(ConfigError, match="no image_loss"):
        ImageLoss(PROBLEM)
    import yaml

    d = yaml.safe_load(open("examples/spaces/isp_tuning.yaml"))
    d["parameters"]["read_noise_e"] = {"low": 1.0, "high": 3.0}
    d["parameters"]["cfa"] = {"choices": ["RGGB", "GRBG"]}
    with pytest.raises(ConfigError, match="not differentiable camera tensors"):
        ImageLoss(d)


@pytest.mark.slow
def test_scorecard_evaluator_through_local_processes(tmp_path):
    """Level (a): the real scorecard (camforge evaluate, quick plan) in two worker processes."""
    res = run_study("examples/spaces/phone_quick.yaml", "random", 2, executor="local:2", storage=tmp_path / "q.db",
                    out=tmp_path)
    assert len(res.evaluations) == 2 and all(e.ok for e in res.evaluations)
    assert all(e.metrics["mtf50_center"] > 0.1 for e in res.evaluations)
    assert (tmp_path / "study.html").exists()


@pytest.mark.slow
def test_local_and_ray_executors_give_the_same_study():
    pytest.importorskip("ray")
    opts = {"population_size": 4}
    kw = dict(evaluator="fast", storage=":memory:", seed=5, options=opts)
    a = run_study(PROBLEM, "nsga2", 8, executor="local:2", **kw)
    b = run_study(PROBLEM, "nsga2", 8, executor="ray:local", **kw)
    assert [e.params for e in a.evaluations] == [e.params for e in b.evaluations]
    assert [e.objectives for e in a.evaluations] == [e.objectives for e in b.evaluations]


def test_outcome_constraint_conditions_are_scaled_by_their_own_magnitude():
    # automotive_front: 5 constraints, of which 2 are outcome constraints (conditions of the CVAE
    # and the RL penalty); each is divided by the median |violation| of that same constraint
    from camforge.design import Evaluation, Problem
    from camforge.design.optimizers.generative import conditions
    from camforge.design.problem import ObjectiveScaler
    from camforge.errors import ConfigError

    pr = Problem("automotive_front", "fast")
    rng = np.random.default_rng(0)
    params = pr.space.sample(12, seed=3, method="random")
    V = rng.normal(0, 1, (12, len(pr.constraints))) * np.array([1, 10, 100, 1000, 10000])[: len(pr.constraints)]
    evs = [Evaluation(params=p, objectives=tuple(rng.uniform(6, 30, pr.n_objectives)), violations=tuple(v),
                      feasible=True) for p, v in zip(params, V)]
    sc = ObjectiveScaler(pr, evs)
    with pytest.raises(ConfigError, match="constraint violations"):
        sc.violations([0.0, 0.0])
    idx = [i for i, k in enumerate(pr.constraints) if k in pr.space.outcome_constraints]
    assert len(idx) == 2 < len(pr.constraints)
    _, C = conditions(sc, pr, evs)
    want = np.clip(V[:, idx] / np.median(np.abs(V[:, idx]), axis=0), -5, 5)
    np.testing.assert_allclose(C[:, pr.n_objectives:], want, rtol=1e-12)


@pytest.mark.slow
def test_task_accuracy_is_a_design_objective(tmp_path):
    """Issue 9 × 8: the scorecard's optional vision-task section feeds `camforge optimize` —
    objectives named ``task_accuracy_{lux}lx`` are measured per candidate design."""
    from camforge.tasks import task_objective

    res = run_study("examples/spaces/phone_tasks.yaml", "random", 2, executor="serial", storage=":memory:", seed=1)
    assert len(res.evaluations) == 2 and all(e.ok for e in res.evaluations), [e.error for e in res.evaluations]
    for e in res.evaluations:
        acc = e.metrics["task_accuracy_10lx"]
        assert 0.0 <= acc <= 1.0 and e.objectives[0] == pytest.approx(acc)
    # the same number as the objective function on that design (same scenes and seed)
    from camforge.design import Problem

    e = res.evaluations[0]
    design = Problem("examples/spaces/phone_tasks.yaml", "scorecard").space.design(e.params)
    assert task_objective(design, lux=10.0, n_images=48, seed=0) == pytest.approx(e.metrics["task_accuracy_10lx"])


def test_target_surrogate_predicts_held_out_slacks_and_meeting_the_spec(problem):
    """The GP critic that screens generative proposals, against the evaluator itself: trained on
    160 Sobol designs, on 300 held-out random designs each term's predicted slack correlates with
    the evaluated one (r > 0.95) with calibrated uncertainty (std of the z-scores 0.5–2), and
    the expected number of designs meeting the spec, Σ P, matches the count within 3 σ."""
    from camforge.design.optimizers.generative import TargetSurrogate

    train = [problem.evaluate(p) for p in problem.space.sample(160, seed=21, method="sobol")]
    test_p = problem.space.sample(300, seed=22, method="random")
    test_e = [problem.evaluate(p) for p in test_p]
    sur = TargetSurrogate(problem, train, seed=0)
    X = np.array([problem.space.encode(p, onehot=True) for p in test_p])
    for k, gp in zip(list(problem.space.target) + list(problem.constraints), sur.models):
        y = np.array([sur._slack(k, e) for e in test_e])
        good = np.isfinite(y)
        mu, sd = gp.predict(X[good], return_std=True)
        assert np.corrcoef(mu, y[good])[0, 1] > 0.95, k.text
        assert 0.5 < np.std((y[good] - mu) / sd) < 2.0, k.text
    prob = sur.probability(test_p)
    assert np.all((prob >= 0) & (prob <= 1))
    met = np.array([problem.target_met(e) for e in test_e])
    expect, var = prob.sum(), (prob * (1 - prob)).sum()
    assert abs(met.sum() - expect) < 3 * math.sqrt(var) + 1
    top = np.argsort(-sur.log_probability(test_p))[:5]
    assert met[top].mean() > 3 * met.mean()


def test_screened_generative_proposals_meet_the_target_more_often_than_random(problem):
    from camforge.design.optimizers.generative import GenerativeOptimizer

    train = [problem.evaluate(p) for p in problem.space.sample(96, seed=31, method="sobol")]
    g = GenerativeOptimizer(seed=0, epochs=80)
    g.bind(problem)
    g.setup(problem, None, train)
    props = g.propose_for_target(12, screen=8)
    assert len(props) == 12 and all(problem.space.is_feasible(p) for p in props)
    met = [problem.target_met(problem.evaluate(p)) for p in props]
    base = np.mean([problem.target_met(e) for e in train])
    assert np.mean(met) >= 0.5 > 5 * base  # the bench's goal, on a small budget (random: ~2 %)

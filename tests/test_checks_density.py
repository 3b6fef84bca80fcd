"""The self-checks of chapter 8 (density estimation) accept right answers and explain typical
wrong ones."""

import doctest

import numpy as np
import pytest

import gmmlib.checks.density
from gmmlib import GaussianMixture
from gmmlib.checks import (
    SelfCheckError,
    check_choose_k_by_held_out,
    check_held_out_log_likelihood,
    check_log_density_grid,
)


def test_doctests():
    failures, _ = doctest.testmod(gmmlib.checks.density)
    assert failures == 0


# --- held-out log-likelihood --------------------------------------------------------------------


def held_out_log_likelihood(model, X_test):
    return float(np.mean(model.score_samples(X_test)))


@pytest.mark.parametrize(
    "func",
    [held_out_log_likelihood, lambda model, X_test: model.score(X_test)],
    ids=["score_samples-mean", "score"],
)
def test_held_out_accepts_correct(func, capsys):
    check_held_out_log_likelihood(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_held_out_rejects_total():
    def total(model, X_test):
        return model.score_samples(X_test).sum()

    with pytest.raises(SelfCheckError, match="TOTAL log-likelihood.*MEAN per point"):
        check_held_out_log_likelihood(total)


def test_held_out_rejects_training_data():
    X_fixed = np.random.default_rng(0).standard_normal((50, 3))

    def scores_training_data(model, X_test):
        X_train = X_fixed[:, : model.means_.shape[1]]  # the data the reader fitted to, say
        return model.score(X_train)

    with pytest.raises(SelfCheckError, match="same value .* for two different test sets"):
        check_held_out_log_likelihood(scores_training_data)


def test_held_out_rejects_density():
    def density(model, X_test):
        return np.exp(model.score_samples(X_test)).mean()

    def log_of_mean_density(model, X_test):
        return np.log(np.exp(model.score_samples(X_test)).mean())

    with pytest.raises(SelfCheckError, match="mean DENSITY p\\(x\\).*no `exp` is needed"):
        check_held_out_log_likelihood(density)
    with pytest.raises(SelfCheckError, match="log of the mean density"):
        check_held_out_log_likelihood(log_of_mean_density)


def test_held_out_rejects_refitting_and_arrays():
    def refits(model, X_test):
        return model.fit(X_test).score(X_test)

    with pytest.raises(SelfCheckError, match="changed the model's parameters"):
        check_held_out_log_likelihood(refits)
    with pytest.raises(SelfCheckError, match="single number"):
        check_held_out_log_likelihood(lambda model, X_test: model.score_samples(X_test))
    with pytest.raises(SelfCheckError, match="wrong sign"):
        check_held_out_log_likelihood(lambda model, X_test: -model.score(X_test))


def test_held_out_template_and_generic():
    def template(model, X_test):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_held_out_log_likelihood(template)
    with pytest.raises(SelfCheckError, match=r"model.score\(X_test\)"):
        check_held_out_log_likelihood(lambda model, X_test: model.score(X_test) + 1.0)


# --- choosing K by held-out log-likelihood ------------------------------------------------------


def choose_k(X_train, X_test, k_values):
    scores = np.array(
        [GaussianMixture(n_components=k, random_state=0).fit(X_train).score(X_test)
         for k in k_values]
    )
    return k_values[int(np.argmax(scores))], scores


def test_choose_k_accepts_correct(capsys):
    check_choose_k_by_held_out(choose_k)
    assert capsys.readouterr().out.startswith("Correct!")


def test_choose_k_rejects_training_scores():
    def on_training(X_train, X_test, k_values):
        return choose_k(X_train, X_train, k_values)

    with pytest.raises(SelfCheckError, match="TRAINING data"):
        check_choose_k_by_held_out(on_training)


def test_choose_k_rejects_totals():
    def totals(X_train, X_test, k_values):
        best, scores = choose_k(X_train, X_test, k_values)
        return best, scores * len(X_test)

    with pytest.raises(SelfCheckError, match="TOTAL held-out"):
        check_choose_k_by_held_out(totals)


def test_choose_k_rejects_index_and_argmin():
    def index(X_train, X_test, k_values):
        _, scores = choose_k(X_train, X_test, k_values)
        return int(np.argmax(scores)), scores

    def argmin(X_train, X_test, k_values):
        _, scores = choose_k(X_train, X_test, k_values)
        return k_values[int(np.argmin(scores))], scores

    with pytest.raises(SelfCheckError, match="POSITION of the best score"):
        check_choose_k_by_held_out(index)
    with pytest.raises(SelfCheckError, match="LOWEST held-out"):
        check_choose_k_by_held_out(argmin)


def test_choose_k_rejects_bad_return():
    with pytest.raises(SelfCheckError, match="return two things"):
        check_choose_k_by_held_out(lambda X_train, X_test, k_values: 3)


# --- log-density grid ---------------------------------------------------------------------------


def log_density_grid(model, xx, yy):
    return model.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)


def test_grid_accepts_correct(capsys):
    check_log_density_grid(log_density_grid)
    assert capsys.readouterr().out.startswith("Correct!")


def test_grid_rejects_transposed():
    with pytest.raises(SelfCheckError, match="looks transposed"):
        check_log_density_grid(lambda model, xx, yy: log_density_grid(model, xx, yy).T)


def test_grid_rejects_density():
    with pytest.raises(SelfCheckError, match="DENSITY p\\(x\\), not its logarithm"):
        check_log_density_grid(lambda model, xx, yy: np.exp(log_density_grid(model, xx, yy)))


def test_grid_rejects_swapped_and_misordered():
    def swapped(model, xx, yy):
        return model.score_samples(np.column_stack([yy.ravel(), xx.ravel()])).reshape(xx.shape)

    def misordered(model, xx, yy):
        points = np.column_stack([xx.ravel(order="F"), yy.ravel(order="F")])
        return model.score_samples(points).reshape(xx.shape)

    with pytest.raises(SelfCheckError, match=r"\(x_2, x_1\)"):
        check_log_density_grid(swapped)
    with pytest.raises(SelfCheckError, match="wrong places"):
        check_log_density_grid(misordered)


def test_grid_rejects_flat():
    with pytest.raises(SelfCheckError, match="should have shape"):
        check_log_density_grid(
            lambda model, xx, yy: model.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))
        )

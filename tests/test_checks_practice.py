"""Chapter 5 self-checks (EM in practice) accept right answers and explain typical wrong ones."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from gmmlib import GaussianMixture
from gmmlib.checks import SelfCheckError, check_best_sensible_run, check_standardize

# --- the best run without a collapsed component -----------------------------------------------


def _runs(X, n_components, seeds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [
            GaussianMixture(n_components, init_params="random_from_data", random_state=s).fit(X)
            for s in seeds
        ]


def _smallest_eigenvalue(run):
    return min(np.linalg.eigvalsh(cov).min() for cov in run.covariances_)


def _sensible(X, n_components, seeds, min_variance):
    return [r for r in _runs(X, n_components, seeds) if _smallest_eigenvalue(r) >= min_variance]


def best_by_lower_bound(X, n_components, seeds, min_variance):
    return max(_sensible(X, n_components, seeds, min_variance), key=lambda run: run.lower_bound_)


def best_by_score(X, n_components, seeds, min_variance):
    runs = _sensible(X, n_components, seeds, min_variance)
    return runs[int(np.argmax([run.score(X) for run in runs]))]


def best_of_all(X, n_components, seeds, min_variance):
    return max(_runs(X, n_components, seeds), key=lambda run: run.lower_bound_)


def best_by_diagonal(X, n_components, seeds, min_variance):
    runs = [r for r in _runs(X, n_components, seeds)
            if min(np.diag(cov).min() for cov in r.covariances_) >= min_variance]
    return max(runs, key=lambda run: run.lower_bound_)


def worst_sensible(X, n_components, seeds, min_variance):
    return min(_sensible(X, n_components, seeds, min_variance), key=lambda run: run.lower_bound_)


def last_run(X, n_components, seeds, min_variance):
    return _runs(X, n_components, seeds)[-1]


def first_run(X, n_components, seeds, min_variance):
    return _runs(X, n_components, seeds)[0]


def returns_log_likelihood(X, n_components, seeds, min_variance):
    return best_by_lower_bound(X, n_components, seeds, min_variance).lower_bound_


def returns_all_runs(X, n_components, seeds, min_variance):
    return _runs(X, n_components, seeds)


def not_implemented(X, n_components, seeds, min_variance):
    raise NotImplementedError


@pytest.mark.parametrize("func", [best_by_lower_bound, best_by_score])
def test_best_sensible_run_accepts_right_answers(func, capsys):
    check_best_sensible_run(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (best_of_all, r"highest log-likelihood of all.*collapsed"),
        (best_by_diagonal, r"smallest EIGENVALUE"),
        (worst_sensible, r"WORST"),
        (last_run, r"LAST seed"),
        (first_run, r"FIRST seed"),
        (returns_log_likelihood, r"returned a number"),
        (returns_all_runs, r"returned a list of \d+ items"),
        (not_implemented, r"not implemented yet"),
    ],
)
def test_best_sensible_run_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_best_sensible_run(func)


# --- standardisation --------------------------------------------------------------------------


def standardize_right(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def standardize_scaler(X):
    return StandardScaler().fit_transform(X)


def standardize_by_variance(X):
    return (X - X.mean(axis=0)) / X.var(axis=0)


def standardize_rows(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def standardize_whole_array(X):
    return (X - X.mean()) / X.std()


def standardize_no_centring(X):
    return X / X.std(axis=0)


def standardize_ddof1(X):
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)


def standardize_transposed(X):
    return standardize_right(X).T


@pytest.mark.parametrize("func", [standardize_right, standardize_scaler])
def test_standardize_accepts_right_answers(func, capsys):
    check_standardize(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (standardize_by_variance, r"divided by the variance"),
        (standardize_rows, r"each ROW"),
        (standardize_whole_array, r"one mean and one standard deviation for the whole array"),
        (standardize_no_centring, r"means are not 0"),
        (standardize_ddof1, r"ddof=1"),
        (standardize_transposed, r"looks transposed"),
    ],
)
def test_standardize_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_standardize(func)

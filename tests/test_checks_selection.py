"""The self-checks of chapter 7 (how many components?) accept right answers and explain typical
wrong ones."""

import numpy as np
import pytest

from scipy.special import xlogy
from sklearn.model_selection import GridSearchCV, KFold

from gmmlib import GaussianMixture
from gmmlib.checks import (
    SelfCheckError,
    check_aic,
    check_best_merge,
    check_bic,
    check_cv_log_likelihood,
)
from gmmlib.model_selection import aic as gmmlib_aic
from gmmlib.model_selection import bic as gmmlib_bic

# --- BIC ----------------------------------------------------------------------------------------


def bic(log_likelihood_total, n_parameters, n_samples):
    return -2.0 * log_likelihood_total + n_parameters * np.log(n_samples)


@pytest.mark.parametrize("func", [bic, gmmlib_bic], ids=["by-hand", "gmmlib"])
def test_bic_accepts_correct(func, capsys):
    check_bic(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_bic_accepts_numpy_scalar(capsys):
    check_bic(lambda ll, p, n: np.float64(bic(ll, p, n)))
    assert "Correct!" in capsys.readouterr().out


def test_bic_rejects_mean_log_likelihood():
    def bic_mean(log_likelihood_total, n_parameters, n_samples):
        return -2.0 * log_likelihood_total / n_samples + n_parameters * np.log(n_samples)

    with pytest.raises(SelfCheckError, match="MEAN log-likelihood.*TOTAL"):
        check_bic(bic_mean)


def test_bic_rejects_sign_errors():
    def flipped_term(ll, p, n):
        return 2.0 * ll + p * np.log(n)

    def higher_is_better(ll, p, n):
        return 2.0 * ll - p * np.log(n)

    def penalty_subtracted(ll, p, n):
        return -2.0 * ll - p * np.log(n)

    with pytest.raises(SelfCheckError, match="sign of the log-likelihood term is flipped"):
        check_bic(flipped_term)
    with pytest.raises(SelfCheckError, match="minus the right one.*LOWER is better"):
        check_bic(higher_is_better)
    with pytest.raises(SelfCheckError, match="penalty has the wrong sign"):
        check_bic(penalty_subtracted)


def test_bic_rejects_log10():
    def bic_log10(ll, p, n):
        return -2.0 * ll + p * np.log10(n)

    with pytest.raises(SelfCheckError, match=r"base-10 logarithm.*np\.log\(N\)"):
        check_bic(bic_log10)


def test_bic_rejects_aic_penalty_and_half():
    with pytest.raises(SelfCheckError, match="this is AIC"):
        check_bic(lambda ll, p, n: -2.0 * ll + 2.0 * p)
    with pytest.raises(SelfCheckError, match="half the right one"):
        check_bic(lambda ll, p, n: -ll + 0.5 * p * np.log(n))


def test_bic_explains_errors_and_templates():
    def template(ll, p, n):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_bic(template)
    with pytest.raises(SelfCheckError, match="single number"):
        check_bic(lambda ll, p, n: np.array([bic(ll, p, n), 0.0]))
    with pytest.raises(SelfCheckError, match="should be"):
        check_bic(lambda ll, p, n: bic(ll, p, n) + 1.0)


# --- AIC ----------------------------------------------------------------------------------------


def aic(log_likelihood_total, n_parameters):
    return -2.0 * log_likelihood_total + 2.0 * n_parameters


@pytest.mark.parametrize("func", [aic, gmmlib_aic], ids=["by-hand", "gmmlib"])
def test_aic_accepts_correct(func, capsys):
    check_aic(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_aic_rejects_penalty_p():
    with pytest.raises(SelfCheckError, match="penalty is p, not 2p"):
        check_aic(lambda ll, p: -2.0 * ll + p)


def test_aic_rejects_sign_errors():
    with pytest.raises(SelfCheckError, match="sign of the log-likelihood term is flipped"):
        check_aic(lambda ll, p: 2.0 * ll + 2.0 * p)
    with pytest.raises(SelfCheckError, match="minus the right one"):
        check_aic(lambda ll, p: 2.0 * ll - 2.0 * p)


def test_aic_rejects_missing_penalty():
    with pytest.raises(SelfCheckError, match="penalty for the number of parameters is missing"):
        check_aic(lambda ll, p: -2.0 * ll)


# --- best merge (entropy criterion) -------------------------------------------------------------


def _entropy(resp):
    return -xlogy(resp, resp).sum()


def _drops(resp, merge_column=True):
    drops = {}
    for j in range(resp.shape[1]):
        for k in range(j + 1, resp.shape[1]):
            merged = np.delete(resp, k, axis=1)
            if merge_column:
                merged[:, j] += resp[:, k]
            drops[j, k] = _entropy(resp) - _entropy(merged)
    return drops


def best_merge(resp):
    drops = _drops(resp)
    return max(drops, key=drops.get)


def best_merge_vectorised(resp):
    """The decrease only involves the two merged columns."""
    j, k = np.triu_indices(resp.shape[1], 1)
    a, b = resp[:, j], resp[:, k]
    drop = (xlogy(a + b, a + b) - xlogy(a, a) - xlogy(b, b)).sum(axis=0)
    best = int(np.argmax(drop))
    return np.array([k[best], j[best]])  # an array, and in the other order: both fine


@pytest.mark.parametrize("func", [best_merge, best_merge_vectorised])
def test_best_merge_accepts_correct(func, capsys):
    check_best_merge(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_best_merge_rejects_smallest_drop():
    def smallest(resp):
        drops = _drops(resp)
        return min(drops, key=drops.get)

    with pytest.raises(SelfCheckError, match="LEAST"):
        check_best_merge(smallest)


def test_best_merge_rejects_overlap_rule():
    def overlap(resp):
        gram = resp.T @ resp
        np.fill_diagonal(gram, -np.inf)
        return np.unravel_index(np.argmax(gram), gram.shape)

    with pytest.raises(SelfCheckError, match="overlap"):
        check_best_merge(overlap)


def test_best_merge_rejects_dropping_a_column():
    def dropped(resp):
        drops = _drops(resp, merge_column=False)
        return max(drops, key=drops.get)

    with pytest.raises(SelfCheckError, match="DROP column k"):
        check_best_merge(dropped)


def test_best_merge_rejects_one_based_indices():
    with pytest.raises(SelfCheckError, match="counted from 1"):
        check_best_merge(lambda resp: tuple(i + 1 for i in best_merge(resp)))


def test_best_merge_explains_nan_entropy():
    def naive_entropy(resp):
        drops = {}
        with np.errstate(all="ignore"):
            base = -np.sum(resp * np.log(resp))
            for j in range(resp.shape[1]):
                for k in range(j + 1, resp.shape[1]):
                    merged = np.delete(resp, k, axis=1)
                    merged[:, j] += resp[:, k]
                    drops[j, k] = base + np.sum(merged * np.log(merged))
        best = (0, 1)
        for pair, drop in drops.items():
            if drop > drops[best]:  # always False once NaN is involved
                best = pair
        return best

    with pytest.raises(SelfCheckError, match="0 log 0"):
        check_best_merge(naive_entropy)


def test_best_merge_rejects_what_is_not_a_pair():
    with pytest.raises(SelfCheckError, match="pair of component indices"):
        check_best_merge(lambda resp: 3)
    with pytest.raises(SelfCheckError, match="numbered 0 to"):
        check_best_merge(lambda resp: (0, resp.shape[1] + 3))
    with pytest.raises(SelfCheckError, match="same component twice"):
        check_best_merge(lambda resp: (2, 2))
    with pytest.raises(SelfCheckError, match="not implemented"):
        check_best_merge(lambda resp: (_ for _ in ()).throw(NotImplementedError))


# --- cross-validated log-likelihood ---------------------------------------------------------------


def _fold_scores(X, n_components, covariance_type, n_splits, random_state, shuffle=True,
                 score_training=False):
    folds = KFold(n_splits, shuffle=shuffle, random_state=random_state if shuffle else None)
    scores, sizes = [], []
    for train, test in folds.split(X):
        model = GaussianMixture(n_components, covariance_type=covariance_type,
                                random_state=random_state).fit(X[train])
        scores.append(model.score(X[train] if score_training else X[test]))
        sizes.append(len(test))
    return np.array(scores), np.array(sizes)


def cv_log_likelihood(X, n_components, covariance_type, n_splits, random_state):
    scores, _ = _fold_scores(X, n_components, covariance_type, n_splits, random_state)
    return scores.mean(), scores.std() / np.sqrt(n_splits)


def cv_by_grid_search(X, n_components, covariance_type, n_splits, random_state):
    search = GridSearchCV(
        GaussianMixture(covariance_type=covariance_type, random_state=random_state),
        {"n_components": [n_components]},
        cv=KFold(n_splits, shuffle=True, random_state=random_state),
    ).fit(X)
    return (search.cv_results_["mean_test_score"][0],
            search.cv_results_["std_test_score"][0] / np.sqrt(n_splits))


@pytest.mark.parametrize("func", [cv_log_likelihood, cv_by_grid_search])
def test_cv_accepts_correct(func, capsys):
    check_cv_log_likelihood(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"shuffle": False}, "not shuffled"),
        ({"score_training": True}, "TRAINING part"),
    ],
)
def test_cv_rejects_wrong_folds(variant, message):
    def wrong(X, n_components, covariance_type, n_splits, random_state):
        scores, _ = _fold_scores(X, n_components, covariance_type, n_splits, random_state,
                                 **variant)
        return scores.mean(), scores.std() / np.sqrt(n_splits)

    with pytest.raises(SelfCheckError, match=message):
        check_cv_log_likelihood(wrong)


def test_cv_rejects_a_model_fitted_to_everything():
    def leaky(X, n_components, covariance_type, n_splits, random_state):
        model = GaussianMixture(n_components, covariance_type=covariance_type,
                                random_state=random_state).fit(X)
        folds = KFold(n_splits, shuffle=True, random_state=random_state)
        scores = np.array([model.score(X[test]) for _, test in folds.split(X)])
        return scores.mean(), scores.std() / np.sqrt(n_splits)

    with pytest.raises(SelfCheckError, match="ALL the data"):
        check_cv_log_likelihood(leaky)


def test_cv_rejects_totals_and_pooled_means():
    def totals(X, n_components, covariance_type, n_splits, random_state):
        scores, sizes = _fold_scores(X, n_components, covariance_type, n_splits, random_state)
        return np.mean(scores * sizes), np.std(scores * sizes) / np.sqrt(n_splits)

    def pooled(X, n_components, covariance_type, n_splits, random_state):
        scores, sizes = _fold_scores(X, n_components, covariance_type, n_splits, random_state)
        return np.sum(scores * sizes) / sizes.sum(), scores.std() / np.sqrt(n_splits)

    with pytest.raises(SelfCheckError, match="TOTAL"):
        check_cv_log_likelihood(totals)
    with pytest.raises(SelfCheckError, match="pooled mean"):
        check_cv_log_likelihood(pooled)


@pytest.mark.parametrize(
    "standard_error, message",
    [
        (lambda s, v: s.std(ddof=1) / np.sqrt(v), "ddof=1"),
        (lambda s, v: s.std(), "standard deviation of the fold scores"),
        (lambda s, v: s.std() / v, "standard error is"),
    ],
)
def test_cv_rejects_wrong_standard_errors(standard_error, message):
    def wrong(X, n_components, covariance_type, n_splits, random_state):
        scores, _ = _fold_scores(X, n_components, covariance_type, n_splits, random_state)
        return scores.mean(), standard_error(scores, n_splits)

    with pytest.raises(SelfCheckError, match=message):
        check_cv_log_likelihood(wrong)


def test_cv_rejects_unseeded_folds_and_single_numbers():
    def unseeded(X, n_components, covariance_type, n_splits, random_state):
        scores, _ = _fold_scores(X, n_components, covariance_type, n_splits, None)
        return scores.mean(), scores.std() / np.sqrt(n_splits)

    with pytest.raises(SelfCheckError, match="two different answers"):
        check_cv_log_likelihood(unseeded)
    with pytest.raises(SelfCheckError, match="one number"):
        check_cv_log_likelihood(lambda *args: cv_log_likelihood(*args)[0])

"""The self-checks of chapter 7 (how many components?) accept right answers and explain typical
wrong ones."""

import numpy as np
import pytest

from gmmlib.checks import SelfCheckError, check_aic, check_ambiguous_fraction, check_bic
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


# --- ambiguous fraction -------------------------------------------------------------------------


def ambiguous_fraction(resp, threshold):
    top_two = np.sort(resp, axis=1)[:, -2:]
    return float(np.mean(np.all(top_two > threshold, axis=1)))


def ambiguous_fraction_second(resp, threshold):
    return np.mean(np.sort(resp, axis=1)[:, -2] > threshold)  # numpy scalar is fine


@pytest.mark.parametrize("func", [ambiguous_fraction, ambiguous_fraction_second])
def test_ambiguous_accepts_correct(func, capsys):
    check_ambiguous_fraction(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_ambiguous_rejects_count():
    def count(resp, threshold):
        return int(np.sum(np.sort(resp, axis=1)[:, -2] > threshold))

    with pytest.raises(SelfCheckError, match="NUMBER of ambiguous rows"):
        check_ambiguous_fraction(count)


def test_ambiguous_rejects_largest_only():
    def largest_only(resp, threshold):
        return float(np.mean(resp.max(axis=1) > threshold))

    with pytest.raises(SelfCheckError, match="only the LARGEST"):
        check_ambiguous_fraction(largest_only)


def test_ambiguous_rejects_entries_and_wrong_axis():
    def entries(resp, threshold):
        return float(np.mean(resp > threshold))

    def per_row_array(resp, threshold):
        return np.sort(resp, axis=1)[:, -2] > threshold

    with pytest.raises(SelfCheckError, match="single entries"):
        check_ambiguous_fraction(entries)
    with pytest.raises(SelfCheckError, match="single number.*mean over the rows"):
        check_ambiguous_fraction(per_row_array)


def test_ambiguous_rejects_percentage_and_smallest():
    with pytest.raises(SelfCheckError, match="percentage"):
        check_ambiguous_fraction(lambda resp, t: 100 * ambiguous_fraction(resp, t))
    with pytest.raises(SelfCheckError, match="SMALLEST"):
        check_ambiguous_fraction(
            lambda resp, t: float(np.mean(np.all(np.sort(resp, axis=1)[:, :2] > t, axis=1)))
        )

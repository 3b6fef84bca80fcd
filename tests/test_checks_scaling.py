"""The self-checks of chapter 12 (scaling EM) accept right answers and explain typical wrong ones."""

import numpy as np
import pytest

from gmmlib.checks import (
    SelfCheckError,
    check_chunk_statistics,
    check_combine_statistics,
    check_step_size,
)
from gmmlib.em import e_step

# --- chunk statistics ---------------------------------------------------------------------------


def chunk_statistics(X_chunk, weights, means, covariances):
    resp = e_step(X_chunk, weights, means, covariances)
    return resp.sum(axis=0), resp.T @ X_chunk, np.einsum("nk,ni,nj->kij", resp, X_chunk, X_chunk)


def test_chunk_statistics_accepts_correct(capsys):
    check_chunk_statistics(chunk_statistics)
    assert capsys.readouterr().out.startswith("Correct!")


def test_chunk_statistics_accepts_lists():
    check_chunk_statistics(lambda *args: [a.tolist() for a in chunk_statistics(*args)])


def test_chunk_statistics_rejects_normalised_by_chunk_size():
    def normalised(X_chunk, weights, means, covariances):
        return tuple(s / len(X_chunk) for s in chunk_statistics(X_chunk, weights, means, covariances))

    with pytest.raises(SelfCheckError, match="divides the sums by the number of points"):
        check_chunk_statistics(normalised)


def test_chunk_statistics_rejects_means_instead_of_sums():
    def means_not_sums(X_chunk, weights, means, covariances):
        nk, s1, s2 = chunk_statistics(X_chunk, weights, means, covariances)
        return nk, s1 / nk[:, None], s2

    with pytest.raises(SelfCheckError, match="means S1 / N_k instead of the sum"):
        check_chunk_statistics(means_not_sums)


@pytest.mark.parametrize("centre", ["current", "own"])
def test_chunk_statistics_rejects_centred_s2(centre):
    def centred(X_chunk, weights, means, covariances):
        resp = e_step(X_chunk, weights, means, covariances)
        nk = resp.sum(axis=0)
        s1 = resp.T @ X_chunk
        mu = means if centre == "current" else s1 / nk[:, None]
        diff = X_chunk[None] - mu[:, None]
        return nk, s1, np.einsum("nk,kni,knj->kij", resp, diff, diff)

    with pytest.raises(SelfCheckError, match="centres S2 about.*raw second moments"):
        check_chunk_statistics(centred)


def test_chunk_statistics_rejects_missing_responsibilities():
    def unweighted(X_chunk, weights, means, covariances):
        K = len(weights)
        ones = np.ones((len(X_chunk), K))
        return ones.sum(axis=0), ones.T @ X_chunk, np.einsum("nk,ni,nj->kij", ones, X_chunk, X_chunk)

    with pytest.raises(SelfCheckError, match="does not weight the points by their responsibilities"):
        check_chunk_statistics(unweighted)


def test_chunk_statistics_explains_template_and_bad_returns():
    def template(X_chunk, weights, means, covariances):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_chunk_statistics(template)
    with pytest.raises(SelfCheckError, match="should return three things"):
        check_chunk_statistics(lambda *args: chunk_statistics(*args)[:2])
    with pytest.raises(SelfCheckError, match="S2 .* should have shape"):
        check_chunk_statistics(lambda *args: (*chunk_statistics(*args)[:2],
                                              chunk_statistics(*args)[2][:, 0]))


# --- combining statistics and the M-step --------------------------------------------------------


def combine_statistics(list_of_stats):
    return tuple(sum(s[i] for s in list_of_stats) for i in range(3))


def parameters_from_statistics(nk, s1, s2):
    means = s1 / nk[:, None]
    covariances = s2 / nk[:, None, None] - np.einsum("ki,kj->kij", means, means)
    return nk / nk.sum(), means, covariances


def test_combine_accepts_correct(capsys):
    check_combine_statistics(combine_statistics, parameters_from_statistics)
    assert capsys.readouterr().out.startswith("Correct!")


def test_combine_rejects_averaging():
    def average(list_of_stats):
        return tuple(np.mean([s[i] for s in list_of_stats], axis=0) for i in range(3))

    with pytest.raises(SelfCheckError, match="averages the chunks' statistics"):
        check_combine_statistics(average, parameters_from_statistics)


def test_combine_rejects_one_chunk_only():
    with pytest.raises(SelfCheckError, match="one chunk only"):
        check_combine_statistics(lambda stats: stats[-1], parameters_from_statistics)


def test_parameters_rejects_unnormalised_weights():
    def raw_weights(nk, s1, s2):
        return (nk, *parameters_from_statistics(nk, s1, s2)[1:])

    with pytest.raises(SelfCheckError, match="returns N_k as the weights"):
        check_combine_statistics(combine_statistics, raw_weights)


def test_parameters_rejects_raw_second_moment():
    def no_outer_product(nk, s1, s2):
        weights, means, _ = parameters_from_statistics(nk, s1, s2)
        return weights, means, s2 / nk[:, None, None]

    with pytest.raises(SelfCheckError, match="raw second moment.*Subtract"):
        check_combine_statistics(combine_statistics, no_outer_product)


def test_parameters_rejects_total_n():
    def total_n(nk, s1, s2):
        weights = nk / nk.sum()
        return weights, s1 / nk.sum(), s2

    with pytest.raises(SelfCheckError, match="divides S1 by the total N"):
        check_combine_statistics(combine_statistics, total_n)


def test_combine_explains_template():
    def template(list_of_stats):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="`template` is not implemented yet"):
        check_combine_statistics(template, parameters_from_statistics)


# --- step size ----------------------------------------------------------------------------------


def step_size(t, offset, decay):
    return (t + offset) ** (-decay)


def test_step_size_accepts_correct(capsys):
    check_step_size(step_size)
    assert capsys.readouterr().out.startswith("Correct!")


def test_step_size_rejects_decay_sign():
    with pytest.raises(SelfCheckError, match="needs a minus sign"):
        check_step_size(lambda t, offset, decay: (t + offset) ** decay)


def test_step_size_rejects_missing_offset():
    with pytest.raises(SelfCheckError, match="ignores the offset"):
        check_step_size(lambda t, offset, decay: max(t, 1) ** (-decay))


def test_step_size_rejects_array_and_template():
    def template(t, offset, decay):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_step_size(template)
    with pytest.raises(SelfCheckError, match="single number"):
        check_step_size(lambda t, offset, decay: np.array([step_size(t, offset, decay)] * 2))

"""Tests for gmmlib.anomaly: the scaler + mixture detector and its trimmed refit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from gmmlib import GaussianMixture
from gmmlib.anomaly import fit_detector, trimmed_refit


@pytest.fixture(scope="module")
def contaminated():
    """Two clusters, plus 5 % of points scattered far around them."""
    rng = np.random.default_rng(3)
    normal = np.vstack([rng.normal([0, 0], 0.7, (150, 2)), rng.normal([4, 2], 0.5, (135, 2))])
    return np.vstack([normal, rng.uniform(-6, 10, (15, 2))])


def test_fit_detector_is_the_scaler_and_mixture_pipeline(contaminated):
    detector = fit_detector(contaminated, 2)
    by_hand = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0)).fit(contaminated)
    assert isinstance(detector, Pipeline)
    assert isinstance(detector[0], StandardScaler) and isinstance(detector[-1], GaussianMixture)
    np.testing.assert_array_equal(detector.score_samples(contaminated),
                                  by_hand.score_samples(contaminated))


def test_fit_detector_scores_are_the_mixture_log_density_of_scaled_points(contaminated):
    detector = fit_detector(contaminated, 2, covariance_type="diag", n_init=2, random_state=4)
    mixture = detector[-1]
    assert (mixture.covariance_type, mixture.n_init, mixture.random_state) == ("diag", 2, 4)
    scaled = (contaminated - contaminated.mean(axis=0)) / contaminated.std(axis=0)
    np.testing.assert_allclose(detector.score_samples(contaminated), mixture.score_samples(scaled),
                               rtol=1e-12)


def test_fit_detector_takes_a_scaler_class_or_an_instance_and_leaves_it_alone(contaminated):
    from_class = fit_detector(contaminated, 2, RobustScaler)
    template = RobustScaler(quantile_range=(10.0, 90.0))
    from_instance = fit_detector(contaminated, 2, template)
    assert isinstance(from_class[0], RobustScaler)
    assert from_instance[0] is not template and not hasattr(template, "scale_")
    assert from_instance[0].quantile_range == (10.0, 90.0)


def test_fit_detector_rejects_what_is_not_a_scaler(contaminated):
    with pytest.raises(TypeError, match="scaler must be"):
        fit_detector(contaminated, 2, "standard")


def test_trimmed_refit_leaves_out_the_lowest_scores_and_keeps_the_settings(contaminated):
    detector = fit_detector(contaminated, 2, RobustScaler, covariance_type="tied")
    before = detector.score_samples(contaminated)
    refitted = trimmed_refit(contaminated, detector, percentile=10)
    kept = before >= np.percentile(before, 10)
    expected = fit_detector(contaminated[kept], 2, RobustScaler, covariance_type="tied")
    assert refitted is not detector
    assert isinstance(refitted[0], RobustScaler) and refitted[-1].covariance_type == "tied"
    np.testing.assert_array_equal(refitted.score_samples(contaminated),
                                  expected.score_samples(contaminated))
    np.testing.assert_array_equal(detector.score_samples(contaminated), before)  # unchanged


def test_trimmed_refit_stops_stretching_towards_scattered_contamination(contaminated):
    detector = fit_detector(contaminated, 2)
    refitted = trimmed_refit(contaminated, detector)
    scattered = np.arange(285, 300)
    assert np.mean(refitted.score_samples(contaminated[scattered])) < np.mean(
        detector.score_samples(contaminated[scattered])
    )


def test_trimmed_refit_keeps_dataframe_columns(contaminated):
    frame = pd.DataFrame(contaminated, columns=["a", "b"])
    detector = fit_detector(frame, 2)
    refitted = trimmed_refit(frame, detector)
    assert list(refitted[0].feature_names_in_) == ["a", "b"]


@pytest.mark.parametrize("percentile", [0, 100, -5, 150, "5", True, None])
def test_trimmed_refit_rejects_bad_percentiles(contaminated, percentile):
    detector = fit_detector(contaminated, 1)
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        trimmed_refit(contaminated, detector, percentile=percentile)

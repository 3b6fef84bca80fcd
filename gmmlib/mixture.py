"""Work in progress."""
from sklearn.mixture import GaussianMixture  # placeholder until gmmlib's own estimator lands

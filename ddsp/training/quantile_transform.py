"""A small NumPy re-implementation of a quantile transform to a uniform or normal distribution.

`QuantileTransformer` keeps, for each feature column, the values at evenly spaced levels of its
empirical cumulative distribution (the quantiles) and maps values through them to a uniform
distribution on [0, 1] or to a standard normal one, and back (`inverse_transform`). Timbre
transfer uses it to match loudness histograms: a clip's note-on loudness goes through its own
transformer and then through the inverse of the training data's
(`ddsp.training.postprocessing.fit_quantile_transform`).

Why it exists: it follows the algorithm of scikit-learn's `QuantileTransformer`, written with
NumPy (and SciPy's normal distribution, only for the normal output) so that TensorFlow-only
installs need no scikit-learn, and so that a transformer can be rebuilt from the quantiles of
this project's JSON statistics (`QuantileTransformer.from_quantiles`) instead of a pickle.

The original DDSP pickled an instance inside `dataset_statistics.pkl` under the class path
`ddsp.training.postprocessing.QuantileTransformer`; that module re-exports this class, and the
attribute names `n_quantiles`, `output_distribution`, `subsample`, `random_state`,
`n_quantiles_`, `quantiles_` and `references_` are kept, so with
`load_dataset_statistics(path, allow_pickle=True)` such a pickle loads into this class
(`ddsp.training.data_preparation.statistics`).
"""

import numpy as np

from ddsp import validation

__all__ = ['QuantileTransformer']

# With normal output, values within this distance of the range's ends map onto the ends.
BOUNDS_THRESHOLD = 1e-7

_OWNER = 'QuantileTransformer'


def _check_random_state(seed):
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    validation.fail(_OWNER, 'random_state', 'None, an int or a np.random.RandomState', seed)


def _as_2d(x, copy):
    x = np.array(x, dtype=np.float64, copy=True if copy else None)
    if x.ndim != 2:
        hint = ' (reshape 1-D data with x[:, None])' if x.ndim == 1 else ''
        validation.fail(_OWNER, 'x.shape', f'a 2-D shape [n_samples, n_features]{hint}', x.shape)
    return x


def _normal_ppf(p):
    from scipy import special  # Lazy: scipy is only needed for the normal output.

    return special.ndtri(p)


def _normal_cdf(x):
    from scipy import special

    return special.ndtr(x)


class QuantileTransformer:
    """Maps each feature through its quantiles to a uniform or a normal distribution.

    Args:
        n_quantiles: number of quantiles (landmarks of the cumulative distribution) to keep;
            at most the number of fitted samples.
        output_distribution: `'uniform'` (values in [0, 1]) or `'normal'`.
        subsample: at most this many randomly chosen samples are used to fit.
        random_state: None, an int seed or a `np.random.RandomState`, for the subsampling.
        copy: if False, `transform` and `inverse_transform` may work in place on float64 input.
    """

    def __init__(
        self,
        n_quantiles=1000,
        output_distribution='uniform',
        subsample=int(1e5),
        random_state=None,
        copy=True,
    ):
        self.n_quantiles = n_quantiles
        self.output_distribution = output_distribution
        self.subsample = subsample
        self.random_state = random_state
        self.copy = copy

    def __setstate__(self, state):
        # Pickles of the original class lack `copy`.
        self.__dict__.update(state)
        self.__dict__.setdefault('copy', True)

    def _check_params(self):
        validation.check_choice(
            _OWNER, 'output_distribution', self.output_distribution, ('uniform', 'normal')
        )
        validation.check_int(_OWNER, 'n_quantiles', self.n_quantiles)
        validation.check_int(_OWNER, 'subsample', self.subsample, minimum=2)

    def fit(self, x, y=None):
        """Computes the quantiles of each column of `x` [n_samples, n_features]."""
        del y
        self._check_params()
        x = _as_2d(x, copy=False)
        n_samples = x.shape[0]
        if n_samples == 0:
            validation.fail(
                _OWNER,
                'x.shape',
                'a shape [n_samples, n_features] with at least one sample to fit on',
                x.shape,
            )
        self.n_quantiles_ = int(max(1, min(self.n_quantiles, n_samples)))
        self.references_ = np.linspace(0.0, 1.0, self.n_quantiles_)
        if n_samples > self.subsample:
            rng = _check_random_state(self.random_state)
            rows = rng.choice(n_samples, size=self.subsample, replace=False)
            x = x[np.sort(rows)]
        quantiles = np.nanpercentile(x, self.references_ * 100.0, axis=0)  # [n_q, n_features]
        # Floating-point interpolation can break monotonicity; restore it.
        self.quantiles_ = np.maximum.accumulate(quantiles, axis=0)
        return self

    def _check_fitted(self):
        if not hasattr(self, 'quantiles_'):
            raise ValueError('This QuantileTransformer is not fitted yet; call fit first.')

    def _transform_col(self, col, quantiles, inverse):
        normal = self.output_distribution == 'normal'
        refs = self.references_
        if inverse:
            if normal:
                col = _normal_cdf(col)
            lo_x, hi_x, lo_y, hi_y = 0.0, 1.0, quantiles[0], quantiles[-1]
        else:
            lo_x, hi_x, lo_y, hi_y = quantiles[0], quantiles[-1], 0.0, 1.0
        with np.errstate(invalid='ignore'):
            if normal:
                at_lo, at_hi = col - BOUNDS_THRESHOLD < lo_x, col + BOUNDS_THRESHOLD > hi_x
            else:
                at_lo, at_hi = col == lo_x, col == hi_x
        finite = ~np.isnan(col)
        vals = col[finite]
        if inverse:
            col[finite] = np.interp(vals, refs, quantiles)
        else:
            # Interpolating from both ends and averaging puts ties (repeated quantiles) in the
            # middle of their range of references.
            col[finite] = 0.5 * (
                np.interp(vals, quantiles, refs) - np.interp(-vals, -quantiles[::-1], -refs[::-1])
            )
        col[at_hi] = hi_y
        col[at_lo] = lo_y
        if normal and not inverse:
            with np.errstate(divide='ignore', invalid='ignore'):
                col = _normal_ppf(col)
            eps = BOUNDS_THRESHOLD - np.spacing(1)
            col = np.clip(col, _normal_ppf(eps), _normal_ppf(1.0 - eps))
        return col

    def _apply(self, x, inverse):
        self._check_fitted()
        x = _as_2d(x, copy=getattr(self, 'copy', True))
        if x.shape[1] != self.quantiles_.shape[1]:
            validation.fail(
                _OWNER,
                'x.shape[1]',
                f'{self.quantiles_.shape[1]}, the number of features the transformer was fitted on',
                x.shape[1],
            )
        for j in range(x.shape[1]):
            x[:, j] = self._transform_col(x[:, j], self.quantiles_[:, j], inverse)
        return x

    def transform(self, x):
        """Maps `x` [n_samples, n_features] to the output distribution."""
        return self._apply(x, inverse=False)

    def inverse_transform(self, x):
        """Maps values of the output distribution back to the fitted data's scale."""
        return self._apply(x, inverse=True)

    def fit_transform(self, x, y=None):
        return self.fit(x, y).transform(x)

    @classmethod
    def from_quantiles(cls, quantiles, output_distribution='uniform'):
        """A fitted transformer from quantiles at evenly spaced levels 0..1 (e.g. the 101
        `loudness_note.quantiles` of this project's JSON statistics)."""
        quantiles = np.asarray(quantiles, np.float64)
        if quantiles.ndim == 1:
            quantiles = quantiles[:, None]
        qt = cls(n_quantiles=quantiles.shape[0], output_distribution=output_distribution)
        qt.n_quantiles_ = quantiles.shape[0]
        qt.references_ = np.linspace(0.0, 1.0, qt.n_quantiles_)
        qt.quantiles_ = np.maximum.accumulate(quantiles, axis=0)
        return qt

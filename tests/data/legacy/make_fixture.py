"""Makes the legacy fixtures by running the ORIGINAL ddsp 3.7.0 as a black box.

Run with the original library importable as `ddsp` (see README.md); nothing here is imported
by the tests.
"""

import pickle

import numpy as np
import tensorflow as tf

from ddsp.training import postprocessing as pp

FRAMES, SR, RATE = 100, 16000, 250  # 250 Hz frames, so power and loudness frame counts agree.
rs = np.random.RandomState(0)


def examples():
    out = []
    for i in range(3):
        t = np.arange(FRAMES)
        f0 = np.full(FRAMES, 220.0 * (i + 1), np.float32)
        conf = np.clip(0.5 + 0.5 * np.sin(t / 8.0 + i), 0, 1).astype(np.float32)
        ld = (-50 + 20 * np.sin(t / 12.0 + i) + rs.randn(FRAMES)).astype(np.float32)
        audio = (0.1 * rs.randn(SR * FRAMES // RATE - SR // RATE)).astype(np.float32)
        out.append(dict(audio=audio, f0_hz=f0, f0_confidence=conf, loudness_db=ld))
    return out


class Provider:
    def get_batch(self, batch_size=1, shuffle=True, repeats=-1, **kwargs):
        exs = examples()
        ds = tf.data.Dataset.from_tensor_slices({k: np.stack([e[k] for e in exs]) for k in exs[0]})
        return ds.batch(batch_size)


stats = pp.compute_dataset_statistics(Provider(), batch_size=1, power_frame_rate=RATE)
with open('dataset_statistics.pkl', 'wb') as f:
    pickle.dump(stats, f)

qt = stats['quantile_transform']
probe = np.array([-100.0, -70.0, -61.2, -55.0, -45.0, -39.4, -30.0, -28.0, 0.0])[:, None]
probe_u = np.array([0.0, 1e-9, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])[:, None]

# A second, separately fitted transformer per output distribution, on saved data.
fit_x = (rs.randn(300, 1) * 8.0 - 40.0).round(1)  # Rounded: includes tied values.
extra = {}
for dist in ('uniform', 'normal'):
    q = pp.QuantileTransformer(n_quantiles=50, output_distribution=dist)
    q.fit(fit_x)
    fwd = q.transform(probe)
    y = probe_u if dist == 'uniform' else np.array([-6.0, -2.0, -0.5, 0.0, 0.7, 2.0, 6.0])[:, None]
    extra.update(
        {
            f'{dist}_quantiles': q.quantiles_,
            f'{dist}_references': q.references_,
            f'{dist}_transform': fwd,
            f'{dist}_inverse_probe': y,
            f'{dist}_inverse': q.inverse_transform(y),
        }
    )

np.savez(
    'expected_outputs.npz',
    probe=probe,
    probe_u=probe_u,
    transform=qt.transform(probe),
    inverse_transform=qt.inverse_transform(probe_u),
    fit_x=fit_x,
    **extra,
)
print({k: type(v).__name__ for k, v in stats.items()})
print(sorted(vars(qt)), qt.quantiles_.shape)

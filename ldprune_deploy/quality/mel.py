"""Log-mel spectrograms with torch.stft and a numpy-built mel filterbank (no torchaudio:
it has no CPU wheel for this torch). Slaney-style mel scale, HTK-free, area-normalised."""

from __future__ import annotations

import numpy as np
import torch

SAMPLE_RATE = 16_000
N_FFT = 1024
N_MELS = 64
FRAMES = 64
HOP = 375                     # 64 frames x 375 = 24000 samples = 1.5 s
F_MIN, F_MAX = 20.0, 8000.0
DB_RANGE = (-90.0, -10.0)     # fixed reference: full-scale sine ~ -6 dB; below -90 dB is silence


def _hz_to_mel(f):
    # Slaney: linear below 1 kHz, logarithmic above
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = F_MIN, fmax: float = F_MAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, each of unit area (Slaney norm)."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return (fb * (2.0 / (hi - lo))).astype(np.float32)


_FB = torch.from_numpy(mel_filterbank())


def log_mel_db(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, samples) float audio in [-1, 1] -> (N, N_MELS, FRAMES) power in dB."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    power = spec.abs().pow(2)[..., :FRAMES] / (N_FFT / 2) ** 2   # a full-scale sine peaks near 0.25 (-6 dB)
    mel = torch.einsum("mf,nft->nmt", _FB * (F_MAX - F_MIN) / N_MELS, power)
    return 10.0 * torch.log10(mel.clamp_min(1e-12))


def db_to_unit(db: torch.Tensor) -> torch.Tensor:
    lo, hi = DB_RANGE
    return ((db - lo) / (hi - lo)).clamp(0, 1)


def log_mel_uint8(audio: np.ndarray) -> np.ndarray:
    """(N, samples) -> (N, N_MELS, FRAMES) uint8, low frequencies in row 0."""
    return (db_to_unit(log_mel_db(audio)) * 255.0).round().to(torch.uint8).numpy()

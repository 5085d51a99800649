"""Mel-spectrogram images <-> waveforms, without torchaudio or librosa.

Audio UNets (AudioDiffusion-style) generate mel-spectrogram *images*: rows are mel bins
(row 0 = lowest), columns are STFT frames, values are dB above ``-top_db`` relative to the
loudest bin, mapped to [0, 1]. ``MelSpec`` holds the parameters (AudioDiffusion's defaults).

FAD is computed one of two ways, and the report says which:
* proxy / user extractors: **directly on the mel images** (the proxy classifier is trained on
  mels, so no vocoder error enters the metric);
* a waveform extractor (VGGish): mel -> linear magnitude (non-negative pseudo-inverse of the
  mel filter bank) -> Griffin-Lim (torch.stft / istft, momentum 0.99 as in "fast
  Griffin-Lim") -> resampled to the extractor's rate with scipy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


@dataclass
class MelSpec:
    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    top_db: float = 80.0
    griffin_lim_iters: int = 32

    def to_json(self) -> dict:
        return asdict(self)


def _hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    # Slaney scale (librosa's default): linear below 1 kHz, logarithmic above
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return torch.where(f < min_log_hz, f / f_sp, min_log_mel + torch.log(f.clamp_min(1e-10) / min_log_hz) / logstep)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return torch.where(m < min_log_mel, m * f_sp, min_log_hz * torch.exp(logstep * (m - min_log_mel)))


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_mels, 1 + n_fft // 2) triangular filters, Slaney-normalised (as librosa.filters.mel)."""
    fft_f = torch.linspace(0, sr / 2, 1 + n_fft // 2, dtype=torch.float64)
    mel_f = _mel_to_hz(torch.linspace(0, float(_hz_to_mel(torch.tensor(sr / 2.0))), n_mels + 2, dtype=torch.float64))
    fdiff = mel_f.diff()
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = torch.clamp(torch.minimum(lower, upper), min=0)
    w *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return w.float()


def waveform_to_mel(audio: torch.Tensor, n_mels: int, spec: MelSpec | None = None) -> torch.Tensor:
    """(N, T) waveforms -> (N, 1, n_mels, frames) mel images in [0, 1]."""
    spec = spec or MelSpec()
    win = torch.hann_window(spec.n_fft, dtype=audio.dtype)
    stft = torch.stft(audio, spec.n_fft, spec.hop_length, window=win, center=True, return_complex=True)
    power = stft.abs() ** 2
    mel = mel_filterbank(spec.sample_rate, spec.n_fft, n_mels).to(audio.dtype) @ power
    ref = mel.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-10)
    db = 10 * torch.log10(mel.clamp_min(1e-10)) - 10 * torch.log10(ref)
    db = db.clamp_min(-spec.top_db)
    return ((db + spec.top_db) / spec.top_db).unsqueeze(1)


def mel_to_waveform(mel_images: torch.Tensor, spec: MelSpec | None = None, seed: int = 0) -> torch.Tensor:
    """(N, 1, n_mels, frames) mel images in [0, 1] -> (N, T) waveforms at ``spec.sample_rate``.

    Loudness is relative (the images are normalised to their loudest bin), so the output is
    peak-normalised to 0.9 — fine for embedding-based metrics, not a calibrated level.
    """
    spec = spec or MelSpec()
    x = mel_images.float().squeeze(1).clamp(0, 1)
    power_mel = 10 ** ((x * spec.top_db - spec.top_db) / 10)
    fb = mel_filterbank(spec.sample_rate, spec.n_fft, x.shape[-2])
    mag = (torch.linalg.pinv(fb) @ power_mel).clamp_min(0).sqrt()
    audio = griffin_lim(mag, spec, seed)
    peak = audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
    return 0.9 * audio / peak


def griffin_lim(mag: torch.Tensor, spec: MelSpec, seed: int = 0, momentum: float = 0.99) -> torch.Tensor:
    win = torch.hann_window(spec.n_fft)
    g = torch.Generator().manual_seed(seed)
    angles = torch.exp(2j * math.pi * torch.rand(mag.shape, generator=g))
    prev = torch.zeros_like(angles)
    length = spec.hop_length * (mag.shape[-1] - 1)
    for _ in range(spec.griffin_lim_iters):
        audio = torch.istft(mag * angles, spec.n_fft, spec.hop_length, window=win, length=length)
        rebuilt = torch.stft(audio, spec.n_fft, spec.hop_length, window=win, return_complex=True)
        angles = rebuilt - (momentum / (1 + momentum)) * prev
        angles = angles / angles.abs().clamp_min(1e-16)
        prev = rebuilt
    return torch.istft(mag * angles, spec.n_fft, spec.hop_length, window=win, length=length)


def resample(audio: torch.Tensor, sr_from: int, sr_to: int) -> torch.Tensor:
    if sr_from == sr_to:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(sr_from, sr_to)
    out = resample_poly(audio.double().numpy(), sr_to // g, sr_from // g, axis=-1)
    return torch.from_numpy(out).float()

"""lienthong: Vietnam's public-service data interconnection (QCVN 120:2019/BTTTT) as open software."""

__version__ = "0.1.0"
__all__ = ["__version__"]

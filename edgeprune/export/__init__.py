"""Export: torch model -> ONNX / TFLite (fp32 and int8), run the artifacts, and measure parity.

Submodules import their heavy dependencies lazily, so importing this package stays cheap.
"""

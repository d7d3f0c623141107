# PufferLib with CUDA, cuBLAS and NCCL. Build: docker build -f docker/puffertank.dockerfile -t puffertank .
# Run: docker run --gpus all -it puffertank puffer train breakout
FROM nvidia/cuda:13.0.0-devel-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-pip python3-venv git ninja-build libgl1 libx11-6 libegl1 libgles2 libegl-mesa0 \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /puffer
COPY . .
RUN pip install --no-cache-dir ".[dev]"
CMD ["bash"]

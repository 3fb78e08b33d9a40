// The runtime's entry in the Kubeless runtime ConfigMap (kubeless-config,
// "runtime-images"): `jsonnet python.jsonnet` prints it.
{
  ID: 'python',
  depName: 'requirements.txt',
  fileNameSuffix: '.py',
  versions: [
    {
      name: 'python-bookworm',
      version: 'bookworm',
      images: [
        {
          phase: 'runtime',
          // Pin the digest of the image you push: registry/runtime-proxy-python@sha256:...
          image: 'registry.example/runtime-proxy-python:0.1.0',
          env: { FUNC_RUNTIME: 'python' },
        },
      ],
    },
  ],
}

// The runtime's entry in the Kubeless runtime ConfigMap (kubeless-config,
// "runtime-images"): `jsonnet node.jsonnet` prints it.
{
  ID: 'node',
  depName: 'package.json',
  fileNameSuffix: '.js',
  versions: [
    {
      name: 'node-bookworm',
      version: 'bookworm',
      images: [
        {
          phase: 'runtime',
          // Pin the digest of the image you push: registry/runtime-proxy-node@sha256:...
          image: 'registry.example/runtime-proxy-node:0.1.0',
          env: { FUNC_RUNTIME: 'node' },
        },
      ],
    },
  ],
}

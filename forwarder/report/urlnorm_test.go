package report

import (
	"net/url"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"hugging face resolve with download=true",
			"https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors?download=true",
			"https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors"},
		{"hf.co short host with revision and fragment",
			"https://hf.co/meta-llama/Llama-3.1-8B-Instruct/resolve/0e9e39f249a16976918f6564b8830bc894c89659/config.json?download=true#L12",
			"https://hf.co/meta-llama/Llama-3.1-8B-Instruct/resolve/0e9e39f249a16976918f6564b8830bc894c89659/config.json"},
		{"hugging face upper-case host and port",
			"https://HuggingFace.co:443/openai/whisper-large-v3/resolve/main/model.safetensors?download=true",
			"https://HuggingFace.co:443/openai/whisper-large-v3/resolve/main/model.safetensors"},
		{"cdn-lfs with a long signed query",
			"https://cdn-lfs.huggingface.co/repos/7a/3b/7a3b5c1e9d2f/4f1c8e0b2d6a9e3f7c5b1a0d8e6f4c2a9b7d5e3f1a0c8b6d4e2f0a9c7b5d3e1f2?response-content-disposition=inline%3B+filename*%3DUTF-8%27%27model.safetensors%3B+filename%3D%22model.safetensors%22%3B&response-content-type=application%2Foctet-stream&Expires=1735689600&Policy=eyJTdGF0ZW1lbnQiOlt7IkNvbmRpdGlvbiI6eyJEYXRlTGVzc1RoYW4iOnsiQVdTOkVwb2NoVGltZSI6MTczNTY4OTYwMH19fV19&Signature=Zm9vYmFyYmF6cXV4~c2lnbmF0dXJl__&Key-Pair-Id=K3ESJI6DHPFC7",
			"https://cdn-lfs.huggingface.co/repos/7a/3b/7a3b5c1e9d2f/4f1c8e0b2d6a9e3f7c5b1a0d8e6f4c2a9b7d5e3f1a0c8b6d4e2f0a9c7b5d3e1f2"},
		{"cdn-lfs-us-1 regional host",
			"https://cdn-lfs-us-1.hf.co/repos/96/1c/961c0d8f/a1b2c3d4e5f6?response-content-disposition=attachment%3B+filename%3D%22pytorch_model.bin%22&Expires=1735689600&Signature=abc&Key-Pair-Id=KVTP0A1DKRTAX",
			"https://cdn-lfs-us-1.hf.co/repos/96/1c/961c0d8f/a1b2c3d4e5f6"},
		{"xet cas bridge",
			"https://cas-bridge.xethub.hf.co/xet-bridge-us/66f5a7b0c1d2e3f4a5b6c7d8/9f8e7d6c5b4a?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=cas%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=0123456789abcdef&X-Amz-SignedHeaders=host&x-id=GetObject",
			"https://cas-bridge.xethub.hf.co/xet-bridge-us/66f5a7b0c1d2e3f4a5b6c7d8/9f8e7d6c5b4a"},
		{"s3 virtual-hosted presigned v4",
			"https://replicate-weights.s3.us-west-2.amazonaws.com/sdxl/unet/diffusion_pytorch_model.fp16.safetensors?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Date=20250101T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
			"https://replicate-weights.s3.us-west-2.amazonaws.com/sdxl/unet/diffusion_pytorch_model.fp16.safetensors"},
		{"s3 path-style presigned v4 with a session token",
			"https://s3.eu-central-1.amazonaws.com/model-cache/llama/consolidated.00.pth?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXAMPLE%2F20250101%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T120000Z&X-Amz-Expires=3600&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F&X-Amz-SignedHeaders=host&X-Amz-Signature=aa11bb22cc33",
			"https://s3.eu-central-1.amazonaws.com/model-cache/llama/consolidated.00.pth"},
		{"presigned v4 on an S3-compatible store, lower-case names",
			"https://acct.r2.cloudflarestorage.com/weights/model.bin?x-amz-algorithm=AWS4-HMAC-SHA256&x-amz-credential=k%2F20250101%2Fauto%2Fs3%2Faws4_request&x-amz-signature=beef",
			"https://acct.r2.cloudflarestorage.com/weights/model.bin"},
		{"s3 legacy signature v2",
			"https://weights.s3.amazonaws.com/checkpoints/v1-5-pruned-emaonly.ckpt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1735689600&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D",
			"https://weights.s3.amazonaws.com/checkpoints/v1-5-pruned-emaonly.ckpt"},
		{"escaped path kept as spelled",
			"https://huggingface.co/datasets/acme/a%20b/resolve/main/x%2Fy.bin?download=true",
			"https://huggingface.co/datasets/acme/a%20b/resolve/main/x%2Fy.bin"},

		// Left exactly as given.
		{"github release with a query",
			"https://github.com/replicate/pget/releases/download/v0.8.2/pget_linux_x86_64?raw=true",
			"https://github.com/replicate/pget/releases/download/v0.8.2/pget_linux_x86_64?raw=true"},
		{"plain https with a fragment on another host",
			"https://weights.example.com/models/sd15.safetensors#sha256=6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
			"https://weights.example.com/models/sd15.safetensors#sha256=6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"},
		{"path merely contains huggingface",
			"https://mirror.example.org/huggingface.co/stabilityai/sdxl/resolve/main/model.safetensors?download=true",
			"https://mirror.example.org/huggingface.co/stabilityai/sdxl/resolve/main/model.safetensors?download=true"},
		{"host that only ends in the word",
			"https://myhuggingface.co/x/y?download=true",
			"https://myhuggingface.co/x/y?download=true"},
		{"hugging face name under another domain",
			"https://huggingface.co.example.com/x/y?download=true",
			"https://huggingface.co.example.com/x/y?download=true"},
		{"Signature and Expires without a key id",
			"https://cdn.example.com/a.bin?Expires=1735689600&Signature=abc&Key-Pair-Id=K1",
			"https://cdn.example.com/a.bin?Expires=1735689600&Signature=abc&Key-Pair-Id=K1"},
		{"X-Amz names in the path only",
			"https://example.com/X-Amz-Signature/file?version=2",
			"https://example.com/X-Amz-Signature/file?version=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := normalizeURL(tt.in, u); got != tt.want {
				t.Errorf("unexpected URL\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

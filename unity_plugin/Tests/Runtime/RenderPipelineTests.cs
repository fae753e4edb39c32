// Edit-mode tests of the render-pipeline choices the receiver and the sample make: which pipeline,
// which texture property, which unlit shader, and the error when a build has none (CI runs them
// too: see BridgeProtocolTests.cs).
using Facecast.Internal;
using NUnit.Framework;

namespace Facecast.Tests
{
    public sealed class RenderPipelineTests
    {
        [Test]
        public void TellsThePipelineFromItsAssetTypeName()
        {
            Assert.AreEqual(RenderPipelineKind.BuiltIn, RenderPipelineKinds.FromAssetTypeName(null));
            Assert.AreEqual(RenderPipelineKind.BuiltIn, RenderPipelineKinds.FromAssetTypeName(""));
            Assert.AreEqual(RenderPipelineKind.Universal, RenderPipelineKinds.FromAssetTypeName("UniversalRenderPipelineAsset"));
            Assert.AreEqual(RenderPipelineKind.HighDefinition, RenderPipelineKinds.FromAssetTypeName("HDRenderPipelineAsset"));
            Assert.AreEqual(RenderPipelineKind.Other, RenderPipelineKinds.FromAssetTypeName("MyRenderPipelineAsset"));
        }

        [Test]
        public void PicksThePipelinesTexturePropertyWithoutAMaterial()
        {
            Assert.AreEqual("_MainTex", TexturePropertyNames.Choose(RenderPipelineKind.BuiltIn, null));
            Assert.AreEqual("_BaseMap", TexturePropertyNames.Choose(RenderPipelineKind.Universal, null));
            Assert.AreEqual("_BaseColorMap", TexturePropertyNames.Choose(RenderPipelineKind.HighDefinition, null));
        }

        [Test]
        public void PrefersThePipelinesNameOverTheHiddenMainTex()
        {
            // URP Lit declares _BaseMap and a hidden, unsampled _MainTex; HDRP Unlit has _UnlitColorMap.
            Assert.AreEqual("_BaseMap", TexturePropertyNames.Choose(RenderPipelineKind.Universal,
                                                                    n => n == "_MainTex" || n == "_BaseMap"));
            Assert.AreEqual("_UnlitColorMap", TexturePropertyNames.Choose(RenderPipelineKind.HighDefinition,
                                                                          n => n == "_MainTex" || n == "_UnlitColorMap"));
            // A built-in shader (UI/Default) under URP only has _MainTex.
            Assert.AreEqual("_MainTex", TexturePropertyNames.Choose(RenderPipelineKind.Universal, n => n == "_MainTex"));
        }

        [Test]
        public void TriesThePipelinesUnlitShaderThenAnAlwaysIncludedOne()
        {
            CollectionAssert.AreEqual(new[] { "Unlit/Texture", "UI/Default" }, UnlitShaderNames.Candidates(RenderPipelineKind.BuiltIn));
            Assert.AreEqual("Universal Render Pipeline/Unlit", UnlitShaderNames.Candidates(RenderPipelineKind.Universal)[0]);
            Assert.AreEqual("HDRP/Unlit", UnlitShaderNames.Candidates(RenderPipelineKind.HighDefinition)[0]);
            Assert.AreEqual(UnlitShaderNames.AlwaysIncluded, UnlitShaderNames.Candidates(RenderPipelineKind.Other)[0]);
        }

        [Test]
        public void TheMissingShaderErrorSaysWhatToDo()
        {
            var message = UnlitShaderNames.NotFoundMessage(UnlitShaderNames.Candidates(RenderPipelineKind.Universal));
            StringAssert.Contains("'Universal Render Pipeline/Unlit'", message);
            StringAssert.Contains("Always Included Shaders", message);
            StringAssert.Contains("Assign a material", message);
        }
    }
}

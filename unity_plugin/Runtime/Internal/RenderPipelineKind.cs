// Which render pipeline a project renders with, told from the type name of
// GraphicsSettings.currentRenderPipeline (null: the built-in pipeline). Free of UnityEngine so
// that CI can test it; FacecastRenderPipeline (Runtime/Component) asks Unity for the name.
namespace Facecast.Internal
{
    public enum RenderPipelineKind { BuiltIn, Universal, HighDefinition, Other }

    public static class RenderPipelineKinds
    {
        /// <summary>"UniversalRenderPipelineAsset" -> Universal, "HDRenderPipelineAsset" -> HighDefinition,
        /// null or "" -> BuiltIn, any other scriptable pipeline -> Other.</summary>
        public static RenderPipelineKind FromAssetTypeName(string typeName)
        {
            if (string.IsNullOrEmpty(typeName)) return RenderPipelineKind.BuiltIn;
            if (typeName.Contains("Universal") || typeName.Contains("Lightweight")) return RenderPipelineKind.Universal;
            if (typeName.Contains("HDRenderPipeline") || typeName.Contains("HighDefinition")) return RenderPipelineKind.HighDefinition;
            return RenderPipelineKind.Other;
        }
    }
}

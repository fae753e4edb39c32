// The 52 ARKit blendshape names in bridge protocol order (Unreal's EARFaceBlendShape order).
// Must match ARKIT_NAMES in engine/types.py (tests/test_clients.py checks it).
using System.Collections.Generic;

namespace Facecast
{
    public static class ArkitNames
    {
        public static readonly string[] All =
        {
            "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
            "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
            "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft",
            "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
            "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
            "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
            "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
            "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
            "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
            "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
        };

        public static readonly int Count = All.Length;  // 52; tests/test_clients.py checks the list

        static readonly Dictionary<string, int> s_index = Build();

        static Dictionary<string, int> Build()
        {
            var d = new Dictionary<string, int>();
            for (var i = 0; i < All.Length; i++) d[All[i].ToLowerInvariant()] = i;
            return d;
        }

        /// <summary>Index of a name in PascalCase, camelCase or Apple's raw form ("eyeBlink_L"); -1 if unknown.</summary>
        public static int IndexOf(string name)
        {
            if (string.IsNullOrEmpty(name)) return -1;
            var n = name.Trim();
            if (n.EndsWith("_L")) n = n.Substring(0, n.Length - 2) + "Left";
            else if (n.EndsWith("_R")) n = n.Substring(0, n.Length - 2) + "Right";
            int i;
            return s_index.TryGetValue(n.ToLowerInvariant(), out i) ? i : -1;
        }
    }
}

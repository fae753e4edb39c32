// Inspector for FacecastReceiver: settings, then live connection state, latency and a preview.
using UnityEditor;
using UnityEngine;

namespace Facecast.Editor
{
    [CustomEditor(typeof(FacecastReceiver))]
    sealed class FacecastReceiverEditor : UnityEditor.Editor
    {
        // The status below changes every frame in Play mode only; in edit mode the inspector
        // repaints on its own events, as usual.
        public override bool RequiresConstantRepaint() => Application.isPlaying;

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var receiver = (FacecastReceiver)target;
            if (!Application.isPlaying) return;

            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Status", EditorStyles.boldLabel);
            var state = receiver.connectionState.ToString();
            var message = receiver.statusMessage;
            EditorGUILayout.LabelField("Connection", state);
            if (!string.IsNullOrEmpty(message) && message != state)
                EditorGUILayout.HelpBox(message, MessageType.Error);
            EditorGUILayout.LabelField("Latency", $"{receiver.latencyMs:0.0} ms");
            EditorGUILayout.LabelField("Sequence", receiver.lastSequence.ToString());
            if (receiver.texture != null)
            {
                var rect = GUILayoutUtility.GetAspectRect((float)receiver.texture.width / receiver.texture.height);
                GUI.DrawTextureWithTexCoords(rect, receiver.texture, new Rect(0, 1, 1, -1));
            }
        }
    }
}

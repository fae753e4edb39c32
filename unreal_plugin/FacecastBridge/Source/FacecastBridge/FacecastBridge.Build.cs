// Build rules of the facecast Bridge runtime module.
using UnrealBuildTool;

public class FacecastBridge : ModuleRules
{
	public FacecastBridge(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;

		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
		PrivateDependencyModuleNames.AddRange(new string[] { "RenderCore", "RHI", "LiveLinkInterface", "ImageWrapper" });

		// The transport (Private/Transport) is plain C++17 over BSD sockets / Winsock.
		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			PublicSystemLibraries.Add("Ws2_32.lib");
		}
	}
}

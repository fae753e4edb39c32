// Build rules of the facecast Bridge runtime module.
using UnrealBuildTool;

public class FacecastBridge : ModuleRules
{
	public FacecastBridge(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		// No CppStandard: the engine's default applies (UBT deprecates CppStandardVersion.Cpp17); the code is C++17 and C++20.

		// LiveLinkInterface is public: the public header FacecastLiveLinkSource.h includes ILiveLinkSource.h.
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine", "LiveLinkInterface" });
		PrivateDependencyModuleNames.AddRange(new string[] { "RenderCore", "RHI", "ImageWrapper" });

		// The transport (Private/Transport) is plain C++17 over BSD sockets / Winsock.
		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			PublicSystemLibraries.Add("Ws2_32.lib");
		}
	}
}

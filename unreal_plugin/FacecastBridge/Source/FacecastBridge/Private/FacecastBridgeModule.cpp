#include "FacecastReceiverWorker.h"
#include "IImageWrapperModule.h"
#include "Modules/ModuleManager.h"

class FFacecastBridgeModule final : public IModuleInterface
{
public:
	// The receivers' worker threads decode with ImageWrapper. Loaded here (game thread), it also shuts down after
	// this module: modules shut down in the reverse order they finish StartupModule.
	virtual void StartupModule() override { FModuleManager::LoadModuleChecked<IImageWrapperModule>(TEXT("ImageWrapper")); }
	// EndPlay lets each receiver's worker wind down on its own; wait for them before this module's code goes.
	virtual void ShutdownModule() override { FFacecastReceiverWorker::JoinRetired(); }
};

IMPLEMENT_MODULE(FFacecastBridgeModule, FacecastBridge)
